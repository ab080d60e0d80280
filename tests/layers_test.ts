/**
 * The house by concern (issue 19), measured from the imports: each folder of
 * src/ is a layer and imports only from its own layer or lower ones; no module
 * imports itself back through others; net/ knows nothing of GDP; no file is
 * longer than a page or two unless it is a table; few files sit at src/'s root.
 */

import assert from "node:assert/strict";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

Deno.test.sanitizer({ ops: true, resources: true });

const SRC = fileURLToPath(new URL("../src/", import.meta.url));

/** Layers, lowest first; a module may import from its own layer and the ones before it. */
const LAYERS: readonly (readonly string[])[] = [
  ["core"],
  ["io"],
  ["config.ts", "limits.ts"],
  ["ops"],
  ["wire"],
  ["net"],
  ["backend"],
  ["fanout"],
  ["auth"],
  ["gateway"],
  ["cli"],
];

/** Folders a layer may not import although they are lower: net/ knows nothing of GDP. */
const FORBIDDEN: Readonly<Record<string, readonly string[]>> = {
  net: ["core", "wire"],
};

/** Files that are tables (one declaration per line) or generated, and may be long. */
const TABLES = new Set(["backend/libgdp/ffi.ts", "gateway/console_assets.ts"]);
const MAX_LINES = 450;
const MAX_ROOT_FILES = 3;

async function sources(dir = SRC): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) files.push(...await sources(path));
    else if (entry.name.endsWith(".ts")) files.push(relative(SRC, path));
  }
  return files.sort();
}

/** The src/ modules `file` imports (statically or dynamically), comments and examples aside. */
function importsOf(file: string, text: string): string[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, "");
  const specifiers = [
    ...code.matchAll(/^(?:import|export)\b[^;]*?\bfrom\s+"([^"]+)"/gms),
    ...code.matchAll(/\bimport\(\s*"([^"]+)"\s*\)/g),
  ].map((m) => m[1]!);
  return specifiers.filter((s) => s.startsWith("."))
    .map((s) => relative(SRC, join(SRC, dirname(file), s)))
    .filter((target) => !target.startsWith(".."));
}

function layerOf(file: string): { index: number; folder: string } {
  const folder = file.includes("/") ? file.split("/")[0]! : file;
  const index = LAYERS.findIndex((layer) => layer.includes(folder));
  if (index < 0) throw new Error(`${file}: src/${folder} is in no layer of this test`);
  return { index, folder };
}

const files = await sources();
const graph = new Map<string, string[]>();
for (const file of files) {
  graph.set(file, importsOf(file, await Deno.readTextFile(join(SRC, file))));
}

Deno.test("every import goes to the module's own layer or a lower one", () => {
  const upward: string[] = [];
  for (const [file, targets] of graph) {
    const from = layerOf(file);
    for (const target of targets) {
      const to = layerOf(target);
      if (to.index > from.index) upward.push(`${file} -> ${target}`);
      if (FORBIDDEN[from.folder]?.includes(to.folder)) {
        upward.push(`${file} -> ${target} (forbidden)`);
      }
    }
  }
  assert.deepEqual(upward, []);
});

Deno.test("no import circle", () => {
  const circles: string[] = [];
  const state = new Map<string, "open" | "done">();
  const path: string[] = [];
  const visit = (file: string) => {
    if (state.get(file) === "done") return;
    if (state.get(file) === "open") {
      circles.push([...path.slice(path.indexOf(file)), file].join(" -> "));
      return;
    }
    state.set(file, "open");
    path.push(file);
    for (const target of graph.get(file) ?? []) visit(target);
    path.pop();
    state.set(file, "done");
  };
  for (const file of graph.keys()) visit(file);
  assert.deepEqual(circles, []);
});

Deno.test("files hold one idea: none over a page or two but tables; few at src/'s root", async () => {
  const long: string[] = [];
  for (const file of files) {
    if (TABLES.has(file)) continue;
    const lines = (await Deno.readTextFile(join(SRC, file))).trimEnd().split("\n").length;
    if (lines > MAX_LINES) long.push(`${file}: ${lines} lines`);
  }
  assert.deepEqual(long, []);
  const root = files.filter((f) => !f.includes("/"));
  assert.ok(root.length <= MAX_ROOT_FILES, `at src/'s root: ${root.join(", ")}`);
});

Deno.test("every folder of src/ says what it owns and may import", async () => {
  const missing: string[] = [];
  for (const folder of new Set(files.filter((f) => f.includes("/")).map((f) => dirname(f)))) {
    try {
      const text = await Deno.readTextFile(join(SRC, folder, "README.md"));
      if (!/may\s+import/i.test(text)) missing.push(`${folder}/README.md says nothing of imports`);
    } catch {
      missing.push(`${folder}/README.md`);
    }
  }
  assert.deepEqual(missing, []);
});
