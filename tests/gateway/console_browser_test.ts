/**
 * The console and the event stream in a real Chromium (Debian's, driven by playwright-core),
 * against a real gateway process that the test kills and restarts mid-stream. One browser for
 * the whole file; screenshots go to test-results/console/ (or $SCREENSHOT_DIR).
 *
 * Without /usr/bin/chromium the test says so and is skipped, except under CI=true, where a
 * missing browser fails.
 */

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { secretAndToken, startGatewayProcess } from "../client/gateway_process.js";

/** Debian's Chromium; $CHROMIUM_PATH points elsewhere (or nowhere, to see the skip). */
const CHROMIUM = Deno.env.get("CHROMIUM_PATH") ?? "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const SCREENSHOTS = Deno.env.get("SCREENSHOT_DIR") ??
  fileURLToPath(new URL("../../test-results/console/", import.meta.url));

const available = existsSync(CHROMIUM);
const required = Deno.env.get("CI") === "true";
if (!available && !required) {
  console.log(`SKIPPED: the browser tests need Chromium at ${CHROMIUM} (apt-get install chromium)`);
}

/** What the EventSource step keeps in the page. */
interface SseWindow {
  sseIds: number[];
}

/** What the rate step keeps in the page: every value the records/s cell showed. */
interface RateWindow {
  rates: number[];
}

/** True when `values` are evenly spaced by 1, 2 or 5 × 10ⁿ: rounded chart ticks. */
function roundedTicks(values: number[]): boolean {
  const steps = values.slice(1).map((v, i) => v - values[i]!);
  const step = steps[0] ?? 0;
  if (step <= 0 || steps.some((s) => Math.abs(s - step) > step * 1e-6)) return false;
  const mantissa = step / 10 ** Math.floor(Math.log10(step) + 1e-9);
  return [1, 2, 5].some((m) => Math.abs(mantissa - m) < 1e-6) &&
    values.every((v) => Math.abs(v / step - Math.round(v / step)) < 1e-6);
}

/** `from` … `to`, or downwards when `from > to`. */
function span(from: number, to: number): number[] {
  const step = from <= to ? 1 : -1;
  return Array.from({ length: Math.abs(to - from) + 1 }, (_, i) => from + i * step);
}

/** A reading that makes a visible curve. */
function reading(n: number): string {
  return (20 + 3 * Math.sin(n / 5)).toFixed(2);
}

/** The panel of `logname`. */
function panel(page: Page, logname: string) {
  return page.locator(`article.panel[data-logname="${logname}"]`);
}

/** Waits until the panel of `logname` shows `recno` as its last record. */
async function waitForLast(page: Page, logname: string, recno: number): Promise<void> {
  await panel(page, logname).locator(`[data-part="last"]`).filter({
    hasText: new RegExp(`^${recno}$`),
  })
    .waitFor();
}

/** The recnos of a panel's table rows, top (newest) first. */
function rowRecnos(page: Page, logname: string): Promise<number[]> {
  return panel(page, logname).locator("tbody tr").evaluateAll((rows) =>
    rows.map((row) => Number(row.getAttribute("data-recno")))
  );
}

async function waitForState(page: Page, state: string): Promise<void> {
  await page.locator(`#state[data-state="${state}"]`).waitFor();
}

async function launch(): Promise<{ context: BrowserContext; profile: string }> {
  const profile = await Deno.makeTempDir({ prefix: "gdp-ws-chromium-" });
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 820 },
  });
  return { context, profile };
}

Deno.test({
  name: "console in Chromium: records in order, chart, restart without gap, errors, EventSource",
  ignore: !available && !required,
  // Chromium and its pipes outlive single steps by design: the steps are not
  // sanitized, the test as a whole is (it closes them at the end).
  sanitizeOps: true,
  sanitizeResources: true,
  fn: async (test) => {
    const t = {
      step: (name: string, fn: () => Promise<void>) =>
        test.step({ name, fn, sanitizeOps: false, sanitizeResources: false }),
    };
    assert.ok(available, `CI=true: Chromium is required at ${CHROMIUM}, and it is missing`);
    await Deno.mkdir(SCREENSHOTS, { recursive: true });
    const gateway = await startGatewayProcess();
    const { context, profile } = await launch();
    const page = await context.newPage();
    const problems: string[] = [];
    page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
    page.on("console", (message) => {
      if (/Content Security Policy|Refused to/i.test(message.text())) problems.push(message.text());
    });
    const shot = (name: string) => page.screenshot({ path: `${SCREENSHOTS}/${name}.png` });
    try {
      await t.step(
        "open the console, pick a log, see appended records in order and the chart",
        async () => {
          for (const n of span(1, 10)) await gateway.append("sensor.temp", reading(n));
          await gateway.append("lab.humidity", '{"humidity": 41.5}');
          const response = await page.goto(`${gateway.http}/`);
          assert.match(response?.headers()["content-security-policy"] ?? "", /default-src 'none'/);
          await waitForState(page, "live");
          await page.locator("#logs button", { hasText: "sensor.temp" }).click();
          await page.locator("#logs button", { hasText: "lab.humidity" }).click();
          await waitForLast(page, "sensor.temp", 10);
          for (const n of span(11, 40)) await gateway.append("sensor.temp", reading(n));
          await waitForLast(page, "sensor.temp", 40);
          assert.deepEqual(await rowRecnos(page, "sensor.temp"), span(40, 1));
          const chart = panel(page, "sensor.temp").locator("canvas.chart");
          assert.ok(await chart.isVisible(), "numbers get a chart");
          assert.equal(await chart.getAttribute("data-points"), "40");
          assert.equal(await chart.getAttribute("data-last"), String(Number(reading(40))));
          await waitForLast(page, "lab.humidity", 1);
          await shot("console-live");
        },
      );

      await t.step(
        "records/s counts live records, not the replay; the log list keeps up",
        async () => {
          for (const n of span(1, 30)) await gateway.append("replayed", reading(n));
          await page.evaluate(() => Object.assign(globalThis, { rates: [] }));
          await page.click("#refresh");
          await page.locator("#logs button", { hasText: "replayed" }).click();
          await waitForLast(page, "replayed", 30);
          await panel(page, "replayed").locator('[data-part="rate"]').evaluate((cell) => {
            type Observer = new (callback: () => void) => {
              observe(node: unknown, options: Record<string, boolean>): void;
            };
            const { MutationObserver: Observe } = globalThis as unknown as {
              MutationObserver: Observer;
            };
            const seen = (globalThis as unknown as RateWindow).rates;
            new Observe(() => seen.push(Number(cell.textContent))).observe(cell, {
              childList: true,
              characterData: true,
              subtree: true,
            });
          });
          // Two ticks of the per-second counter with nothing but the replay: it stays 0.
          await page.waitForTimeout(2200);
          assert.ok(
            (await page.evaluate(() => (globalThis as unknown as RateWindow).rates)).every((r) =>
              r === 0
            ),
            "the replay is not a rate",
          );
          for (const n of span(31, 36)) await gateway.append("replayed", reading(n));
          await page.waitForFunction(() =>
            (globalThis as unknown as RateWindow).rates.some((r) => r > 0)
          );
          const rates = await page.evaluate(() => (globalThis as unknown as RateWindow).rates);
          assert.ok(Math.max(...rates) <= 6, `only live records count: ${rates}`);
          // The list shows the count the panel has seen, not the one it loaded with.
          await page.locator('#logs button[data-logname="replayed"] .count', { hasText: "36 rec" })
            .waitFor();
          await panel(page, "replayed").locator('[data-part="close"]').click();
        },
      );

      await t.step(
        "the chart: rounded value ticks, a time axis, a readout under the pointer",
        async () => {
          const chart = panel(page, "sensor.temp").locator("canvas.chart");
          const ticks = ((await chart.getAttribute("data-y-ticks")) ?? "").split(" ").map(Number);
          assert.ok(ticks.length >= 2 && roundedTicks(ticks), `rounded ticks: ${ticks}`);
          const box = (await chart.boundingBox())!;
          await page.mouse.move(box.x + box.width - 3, box.y + box.height / 2); // right of the newest
          const readout = panel(page, "sensor.temp").locator('[data-part="readout"]');
          await readout.waitFor();
          assert.match(
            (await readout.textContent()) ?? "",
            new RegExp(`^#40 · \\d\\d:\\d\\d:\\d\\d\\.\\d{3} · ${Number(reading(40))}$`),
          );
          assert.equal(await chart.getAttribute("data-hover"), "40");
          await page.mouse.move(box.x + 40, box.y + box.height / 2);
          assert.notEqual(await chart.getAttribute("data-hover"), "40", "the readout follows");
          await shot("console-hover");
          await page.mouse.move(0, 0);
        },
      );

      await t.step("the status card shows the gateway's counts and rates", async () => {
        const card = page.locator("#status-card");
        await card.locator('[data-stat="subscriptions"]', { hasText: /^[2-9]$/ }).waitFor();
        assert.equal(await card.locator('[data-stat="connections"]').textContent(), "1");
        assert.match(
          (await card.locator('[data-stat="state"]').textContent()) ?? "",
          /embedded · ready/,
        );
        for (const n of span(41, 45)) {
          await gateway.append("lab.humidity", `{"humidity": ${40 + n / 10}}`);
        }
        await card.locator('[data-stat="in"]', { hasText: /^\d/ }).waitFor();
        await card.locator('[data-stat="uptime"]', { hasText: / s$/ }).waitFor();
        await shot("console-1280");
      });

      await t.step("kill and restart the gateway mid-stream: no gap, no duplicate", async () => {
        await gateway.kill();
        await waitForState(page, "reconnecting");
        await panel(page, "sensor.temp").locator('[data-status="resuming"]').waitFor();
        await gateway.restart();
        for (const n of span(41, 60)) await gateway.append("sensor.temp", reading(n));
        await waitForLast(page, "sensor.temp", 60);
        await waitForState(page, "live");
        assert.deepEqual(await rowRecnos(page, "sensor.temp"), span(60, 1));
        const total = await panel(page, "sensor.temp").locator('[data-part="total"]').textContent();
        assert.equal(total, "60");
        await shot("console-after-restart");
      });

      await t.step("a log that does not exist: the error in words, with its code", async () => {
        await page.fill('#subscribe input[name="logname"]', "no.such.log");
        await page.click('#subscribe button[type="submit"]');
        const error = panel(page, "no.such.log").locator('[data-part="error"]');
        await error.waitFor();
        assert.equal(await error.getAttribute("data-code"), "600");
        assert.match((await error.textContent()) ?? "", /No such log \(code 600\)/);
        await panel(page, "no.such.log").locator('[data-status="failed"]').waitFor();
        await shot("console-error");
      });

      await t.step("the append box stores a record the panel then shows", async () => {
        await page.fill('#append input[name="logname"]', "sensor.temp");
        await page.fill('#append input[name="data"]', "99.5");
        await page.click('#append button[type="submit"]');
        await page.locator("#append-result", { hasText: "stored as record 61" }).waitFor();
        await waitForLast(page, "sensor.temp", 61);
        const top = panel(page, "sensor.temp").locator("tbody tr").first();
        assert.equal(await top.locator("td.data").textContent(), "99.5");
      });

      await t.step("unsubscribe removes the panel", async () => {
        await panel(page, "no.such.log").locator('[data-part="close"]').click();
        assert.equal(await panel(page, "no.such.log").count(), 0);
      });

      await t.step("the subscribe form takes a start time: the panel starts there", async () => {
        for (const n of span(1, 5)) await gateway.append("timed.log", reading(n));
        await page.waitForTimeout(1100); // the form's times are whole seconds
        for (const n of span(6, 10)) await gateway.append("timed.log", reading(n));
        const records = await (await fetch(`${gateway.http}/logs/timed.log/records`)).json();
        // Record 6's second: after record 5 (1.1 s earlier), at or before record 6.
        const at: number = records[5].ts.tv_sec;
        // What the gateway starts from at that second: its range endpoint says the same.
        const since = new Date(at * 1000).toISOString();
        const [expected] = await (await fetch(
          `${gateway.http}/logs/timed.log/records?since=${since}&count=1`,
        )).json();
        assert.equal(expected.recno, 6);
        // The page's own local time, as a datetime-local field shows it.
        const local = await page.evaluate((ms) => {
          const d = new Date(ms);
          const two = (n: number) => String(n).padStart(2, "0");
          return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}T` +
            `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
        }, at * 1000);
        await page.fill('#subscribe input[name="logname"]', "timed.log");
        await page.fill('#subscribe input[name="startrec"]', "1");
        await page.fill('#subscribe input[name="since"]', local);
        await page.click('#subscribe button[type="submit"]');
        await waitForLast(page, "timed.log", 10);
        assert.deepEqual(await rowRecnos(page, "timed.log"), span(10, expected.recno));
        await page.fill('#subscribe input[name="since"]', "");
        await panel(page, "timed.log").locator('[data-part="close"]').click();
      });

      await t.step(
        "an EventSource in the page resumes with Last-Event-ID after a restart",
        async () => {
          await page.evaluate(() => {
            const ids: number[] = [];
            Object.assign(globalThis, { sseIds: ids });
            const source = new EventSource("/logs/sensor.temp/events?start=1");
            source.onmessage = (event) => ids.push(Number(event.lastEventId));
          });
          await page.waitForFunction(() =>
            (globalThis as unknown as SseWindow).sseIds.length === 61
          );
          await gateway.restart();
          for (const n of span(62, 70)) await gateway.append("sensor.temp", reading(n));
          await page.waitForFunction(() =>
            (globalThis as unknown as SseWindow).sseIds.includes(70)
          );
          const ids = await page.evaluate(() => (globalThis as unknown as SseWindow).sseIds);
          assert.deepEqual(ids, span(1, 70), "no gap, no duplicate across the restart");
          await waitForLast(page, "sensor.temp", 70);
          await shot("console-final");
        },
      );
      await t.step("with tokens required, the console works when opened as /#token=…", async () => {
        const auth = secretAndToken(["--read", "secure.*", "--append", "secure.*"]);
        const secured = await startGatewayProcess(["--auth-secret", auth.secretFile]);
        try {
          await page.goto(`${secured.http}/#token=${auth.token}`);
          await waitForState(page, "live");
          assert.equal(new URL(page.url()).hash, "", "the token leaves the address bar");
          await page.fill('#append input[name="logname"]', "secure.temp");
          await page.fill('#append input[name="data"]', "18.5");
          await page.click('#append button[type="submit"]');
          await page.locator("#append-result", { hasText: "stored as record 1" }).waitFor();
          await page.click("#refresh");
          await page.locator("#logs button", { hasText: "secure.temp" }).click();
          await waitForLast(page, "secure.temp", 1);
          await page.fill('#subscribe input[name="logname"]', "elsewhere");
          await page.click('#subscribe button[type="submit"]');
          const error = panel(page, "elsewhere").locator('[data-part="error"]');
          await error.waitFor();
          assert.equal(await error.getAttribute("data-code"), "403");
        } finally {
          await secured.stop();
          auth.remove();
        }
      });

      await t.step(
        "asked for a token on 401: kept for the tab, never in the address bar",
        async () => {
          const auth = secretAndToken(["--read", "secure.*", "--append", "secure.*"]);
          const secured = await startGatewayProcess(["--auth-secret", auth.secretFile]);
          const fresh = await context.newPage();
          try {
            await fresh.goto(`${secured.http}/`);
            const card = fresh.locator('#token-card[data-mode="ask"]');
            await card.waitFor();
            await fresh.locator('#notice[data-code="401"]').waitFor();
            await fresh.locator('#state[data-state="closed"]').waitFor();
            assert.match(
              (await fresh.locator("#notice").textContent()) ?? "",
              /a bearer token is required/,
            );
            await fresh.screenshot({ path: `${SCREENSHOTS}/console-token.png` });
            await fresh.fill('#token input[name="token"]', auth.token);
            await fresh.click('#token button[type="submit"]');
            await fresh.locator('#state[data-state="live"]').waitFor();
            assert.equal(fresh.url(), `${secured.http}/`, "the token is not in the address");
            assert.ok(!((await fresh.locator("#where").textContent()) ?? "").includes(auth.token));
            assert.equal(
              await fresh.evaluate(() => sessionStorage.getItem("gdp-ws-token")),
              auth.token,
            );
            assert.equal(await fresh.locator("#notice").isVisible(), false);
            await fresh.locator('#token-card[data-mode="in-use"]').waitFor();
          } finally {
            await fresh.close();
            await secured.stop();
            auth.remove();
          }
        },
      );

      await t.step(
        "at 360 px wide nothing overflows: one column, the header full width",
        async () => {
          const narrow = await context.newPage();
          try {
            await narrow.setViewportSize({ width: 360, height: 780 });
            await narrow.goto(`${gateway.http}/`);
            await narrow.locator('#state[data-state="live"]').waitFor();
            await narrow.locator("#logs button", { hasText: "sensor.temp" }).click();
            await waitForLast(narrow, "sensor.temp", 70);
            await panel(narrow, "sensor.temp").locator("canvas.chart").waitFor();
            const panelBox = (await panel(narrow, "sensor.temp").boundingBox())!;
            const widths = {
              page: await narrow.locator("html").evaluate((html) => html.scrollWidth),
              header: (await narrow.locator("header.top").boundingBox())!.width,
              panel: panelBox.x + panelBox.width,
            };
            assert.ok(widths.page <= 360, `the page is ${widths.page} px wide`);
            assert.equal(widths.header, 360);
            assert.ok(widths.panel <= 360, `the panel ends at ${widths.panel} px`);
            await narrow.screenshot({ path: `${SCREENSHOTS}/console-360.png`, fullPage: true });
          } finally {
            await narrow.close();
          }
        },
      );

      assert.deepEqual(problems, [], "no CSP violation and no page error");
    } finally {
      await context.close();
      await gateway.stop();
      await Deno.remove(profile, { recursive: true });
    }
  },
});
