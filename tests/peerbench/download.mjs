// What a browser downloads for each library: its JavaScript bundled and
// minified for the browser by esbuild (as an application's bundler would),
// plus the files it fetches at run time (wasm, workers), each compressed
// with brotli at its best quality — as a server sending precompressed
// files would.
import { readdirSync, readFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { brotliCompressSync, constants } from "node:zlib";
import * as esbuild from "esbuild";

const here = import.meta.dirname;

const brotli = (bytes) =>
  brotliCompressSync(bytes, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: 11,
      [constants.BROTLI_PARAM_LGWIN]: 24,
      [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
    },
  }).length;

// "dir/chunk-*.js" → the files it names (one * at most).
function expand(pattern, from) {
  const path = join(from, pattern);
  if (!path.includes("*")) return [path];
  const re = new RegExp("^" + basename(path).replace(/[.]/g, "\\.").replace("*", ".*") + "$");
  return readdirSync(dirname(path))
    .filter((f) => re.test(f))
    .map((f) => join(dirname(path), f));
}

// from: the folder spec.files are in (factlog's: the run's copy of the
// package); spec.extraFiles are in this folder.
export async function downloadSize(system, from = here) {
  const spec = (await import(`./${system}.mjs`)).default.download;
  const files = [];
  if (spec.entry) {
    const out = await esbuild.build({
      stdin: { contents: spec.entry, resolveDir: here, loader: "js" },
      bundle: true,
      minify: true,
      format: "esm",
      platform: "browser",
      target: "es2022",
      outdir: join(here, ".bundle"),
      write: false,
      loader: { ".wasm": "file" },
      external: spec.external ?? [],
      logLevel: "silent",
    });
    for (const f of out.outputFiles) files.push({ name: basename(f.path), raw: f.contents.length, br: brotli(f.contents) });
  }
  const paths = [...(spec.files ?? []).flatMap((f) => expand(f, from)), ...(spec.extraFiles ?? []).flatMap((f) => expand(f, here))];
  for (const p of paths) {
    const bytes = readFileSync(p);
    files.push({ name: basename(p), raw: bytes.length, br: brotli(bytes) });
  }
  return { bytes: files.reduce((n, f) => n + f.br, 0), files };
}
