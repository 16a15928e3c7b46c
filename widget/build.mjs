// Bundles the widget and socket.io-client into one static file the project serves
// itself (no CDN): build/web/cart-chat.js and build/web/cart-chat.css.
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(here, process.argv[2] || "../build/web");
mkdirSync(out, { recursive: true });

await build({
  entryPoints: [resolve(here, "src/index.js")],
  bundle: true,
  minify: true,
  sourcemap: true,
  format: "iife",
  target: ["es2019"],
  outfile: resolve(out, "cart-chat.js"),
  legalComments: "linked",
  logLevel: "warning",
});
copyFileSync(resolve(here, "src/cart-chat.css"), resolve(out, "cart-chat.css"));
console.log(`widget built into ${out}`);
