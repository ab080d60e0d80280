/** The serve flag table: parsing, errors that name flags, and README's configuration table. */

import assert from "node:assert/strict";
import { parseFlags } from "../../src/cli/args.ts";
import { DEFAULTS } from "../../src/config.ts";
import { readmeRow, SERVE_FLAGS, serveHelp } from "../../src/cli/serve_flags.ts";
import { serveConfig } from "../../src/cli/serve_config.ts";

Deno.test.sanitizer({ ops: true, resources: true });

const README = new URL("../../README.md", import.meta.url);

/** The rows of the first table under README's `## Configuration`, as trimmed cells. */
async function readmeConfigurationRows(): Promise<string[][]> {
  const text = await Deno.readTextFile(README);
  const section = text.split(/^## /m).find((s) => s.startsWith("Configuration\n"));
  assert.ok(section, "README has a ## Configuration section");
  const table = section.split("\n").filter((line) => line.startsWith("|"));
  return table.slice(2).map((line) => line.slice(1, -1).split(" | ").map((cell) => cell.trim()));
}

Deno.test("README's configuration table is the serve flag table", async () => {
  const expected = SERVE_FLAGS.map(readmeRow);
  const actual = await readmeConfigurationRows();
  const render = (rows: string[][]) => rows.map((r) => `| ${r.join(" | ")} |`).join("\n");
  assert.equal(
    render(actual),
    render(expected),
    `README's configuration table should read (then run deno fmt):\n${render(expected)}`,
  );
});

Deno.test("every flag in the table appears in serve --help with its default", () => {
  const help = serveHelp();
  for (const flag of SERVE_FLAGS) assert.match(help, new RegExp(`^  --${flag.name}\\b`, "m"));
  assert.match(help, /--port N +TCP port; 0 picks a free one \(default 8080\)/);
  assert.match(help, /--gdp-router HOST:PORT +GDP router \(default libgdp's parameter files\)/);
});

Deno.test("serve flags map onto the config, switches and libgdp ones included", () => {
  const config = serveConfig([
    "--port",
    "9000",
    "--backend=libgdp",
    "--libgdp",
    "/opt/gdp/libgdp.so.2.1",
    "--gdp-router",
    "gdp-01.example:8009",
    "--libgdp-append",
    "--gdp-max-subscribed",
    "500",
    "--no-auto-create",
    "--send-queue-bytes",
    "4194304",
  ]);
  assert.equal(config.port, 9000);
  assert.equal(config.backend, "libgdp");
  assert.deepEqual(config.libgdp, {
    path: "/opt/gdp/libgdp.so.2.1",
    router: "gdp-01.example:8009",
    appendable: true,
    maxSubscribed: 500,
    probeMs: 5000,
  });
  assert.equal(config.autoCreate, false);
  assert.equal(config.limits.sendQueueBytes, 4194304);
  assert.deepEqual(serveConfig([]), DEFAULTS, "no flags: config.ts's defaults");
});

Deno.test("bad serve values are errors naming the flag, not the config field", async (t) => {
  const cases: [string[], RegExp][] = [
    [
      ["--send-queue-bytes", "1000"],
      /^--send-queue-bytes \(1000\) must be at least twice --max-record-bytes/,
    ],
    [["--idle-timeout", "-1"], /^--idle-timeout must be an integer from 0/],
    [["--port", "eighty"], /^--port must be an integer, not "eighty"$/],
    [["--port", "70000"], /^--port must be an integer from 0 to 65535/],
    [["--max-connections", "0"], /^--max-connections must be an integer from 1/],
    [["--log-level", "loud"], /^--log-level must be one of trace, debug/],
    [["--backend", "mysql"], /^--backend must be embedded or libgdp/],
    [["--key", "k.pem"], /^--cert and --key go together/],
    [["--frobnicate"], /^unknown option --frobnicate for gdp-ws serve/],
    [["--port"], /^--port needs a value$/],
    [["--no-auto-create=yes"], /^--no-auto-create takes no value$/],
    [["create"], /^serve takes no arguments, got "create"/],
  ];
  for (const [args, message] of cases) {
    await t.step(args.join(" "), () => {
      assert.throws(() => serveConfig(args), (error: Error) => {
        assert.equal(error.name, "ConfigError");
        assert.match(error.message, message);
        return true;
      });
    });
  }
});

Deno.test("a value may start with a dash: --start -5 is the value -5", () => {
  const parsed = parseFlags(["demo", "--start", "-5", "--url=ws://x/"], {
    start: "value",
    url: "value",
  }, "gdp-ws tail");
  assert.deepEqual(parsed.positionals, ["demo"]);
  assert.equal(parsed.values.get("start"), "-5");
  assert.equal(parsed.values.get("url"), "ws://x/");
  assert.throws(
    () => parseFlags(["--start", "--url"], { start: "value", url: "value" }, "gdp-ws tail"),
    {
      message: "--start needs a value",
    },
  );
  assert.deepEqual(parseFlags(["--", "--x"], {}, "gdp-ws tail").positionals, ["--x"]);
});
