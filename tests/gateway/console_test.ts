/** The console's files: generated module up to date, content types, CSP, no inline script. */

import assert from "node:assert/strict";
import { ASSET_SOURCES, ASSETS_MODULE, assetsModule } from "../../scripts/console_assets.ts";
import { CLIENT_PATH, CONSOLE_CSP } from "../../src/gateway/console.ts";
import { embeddedFixture, serveForTest } from "../helpers/gateway.ts";
import { shippedTest } from "../helpers/shipped.ts";

Deno.test.sanitizer({ ops: true, resources: true });

Deno.test("src/gateway/console_assets.ts holds web/ and client/ as they are (else: deno task console)", async () => {
  const current = await Deno.readTextFile(ASSETS_MODULE);
  assert.ok(
    current === await assetsModule(),
    "src/gateway/console_assets.ts is stale: run deno task console",
  );
});

shippedTest(
  "the console is served with its content types, a strict CSP and no inline script",
  async (dataDir) => {
    const fixture = await embeddedFixture(dataDir);
    const gateway = await serveForTest(fixture.backend);
    const base = gateway.url.replace(/^ws/, "http").replace(/\/$/, "");
    try {
      for (const [path, { type }] of Object.entries(ASSET_SOURCES)) {
        const response = await fetch(base + path);
        assert.equal(response.status, 200, path);
        assert.equal(response.headers.get("content-type"), type, path);
        assert.equal(response.headers.get("content-security-policy"), CONSOLE_CSP, path);
        assert.equal(response.headers.get("x-content-type-options"), "nosniff", path);
        const body = await response.text();
        if (path !== "/") continue;
        for (const tag of body.match(/<script\b[^>]*>/g) ?? []) {
          assert.match(tag, /\bsrc="\/[^"]+"/, `inline script: ${tag}`);
        }
        assert.doesNotMatch(body, /\son[a-z]+=/i, "no inline event handlers");
        assert.doesNotMatch(body, /\sstyle=/i, "no inline styles");
      }
      assert.match(CONSOLE_CSP, /default-src 'none'/);
      assert.match(CONSOLE_CSP, /script-src 'self'(;|$)/);
      const library = await fetch(base + CLIENT_PATH);
      assert.equal(library.headers.get("access-control-allow-origin"), "*", "importable anywhere");
      const page = await fetch(base + "/");
      assert.equal(page.headers.get("access-control-allow-origin"), null);
      await page.body?.cancel();
      await library.body?.cancel();
      const head = await fetch(base + "/", { method: "HEAD" });
      assert.equal(head.status, 200);
      assert.equal(await head.text(), "");
      const missing = await fetch(base + "/console/nope.js");
      assert.equal(missing.status, 404);
      await missing.body?.cancel();
    } finally {
      await gateway.shutdown();
      await fixture.teardown();
    }
  },
);

Deno.test("the console's modules type-check against the DOM (web/deno.json)", async () => {
  const root = new URL("../../", import.meta.url);
  const { success, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["check", "--quiet", "--config", "web/deno.json", "web/"],
    cwd: root,
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.ok(success, new TextDecoder().decode(stderr));
});
