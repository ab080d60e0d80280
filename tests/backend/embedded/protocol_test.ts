import { embeddedFixture } from "../../helpers/gateway.ts";
import { protocolSuite } from "../../protocol_suite.ts";

await protocolSuite("embedded", embeddedFixture, "embedded");
