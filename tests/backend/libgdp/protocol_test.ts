import { libgdpDouble, libgdpFixture } from "../../helpers/libgdp_double.ts";
import { protocolSuite } from "../../protocol_suite.ts";

await protocolSuite("libgdp", libgdpFixture, { libgdp: (await libgdpDouble()).path });
