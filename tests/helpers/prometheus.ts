/**
 * Scrapes `/metrics` and parses it with a real Prometheus text-format parser
 * (`parse-prometheus-text-format`), so a malformed exposition fails the test.
 */

import parsePrometheusTextFormat from "parse-prometheus-text-format";

/** One sample of a counter or gauge, or one histogram with its buckets. */
export interface Sample {
  labels?: Record<string, string>;
  value?: string;
  buckets?: Record<string, string>;
  count?: string;
  sum?: string;
}

/** A metric family as the parser returns it. */
export interface Family {
  name: string;
  help: string;
  type: "COUNTER" | "GAUGE" | "HISTOGRAM" | "SUMMARY" | "UNTYPED";
  metrics: Sample[];
}

/** Parsed metric families by name. */
export type Scrape = Map<string, Family>;

/** Parses Prometheus text; throws on anything the parser rejects. */
export function parseMetrics(text: string): Scrape {
  const families = (parsePrometheusTextFormat as (text: string) => Family[])(text);
  return new Map(families.map((f) => [f.name, f]));
}

/** GETs `/metrics` of the gateway at `wsUrl` and parses it. */
export async function scrape(wsUrl: string): Promise<Scrape> {
  const response = await fetch(new URL("/metrics", wsUrl.replace(/^ws/, "http")));
  if (response.status !== 200) throw new Error(`/metrics answered ${response.status}`);
  const type = response.headers.get("content-type") ?? "";
  if (!type.startsWith("text/plain")) throw new Error(`/metrics content-type is ${type}`);
  return parseMetrics(await response.text());
}

/** The value of a counter or gauge sample whose labels include `labels` (0 when absent). */
export function valueOf(scrape: Scrape, name: string, labels: Record<string, string> = {}): number {
  const family = scrape.get(name);
  const sample = family?.metrics.find((m) =>
    Object.entries(labels).every(([k, v]) => m.labels?.[k] === v)
  );
  return sample?.value === undefined ? 0 : Number(sample.value);
}

/** The observation count of an unlabelled histogram. */
export function countOf(scrape: Scrape, name: string): number {
  return Number(scrape.get(name)?.metrics[0]?.count ?? 0);
}
