import { createHash } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** One file the pages load, with its content type. */
export interface Asset {
  readonly body: Buffer;
  readonly type: string;
}

/** The built pages: their HTML and every file under /assets/ they load. */
export interface PageAssets {
  /** By file name (the part after /assets/); names carry a content hash, so they can be cached for ever. */
  readonly files: ReadonlyMap<string, Asset>;
  readonly dashboardHtml: string;
  readonly sandboxHtml: string;
}

const here = path.dirname(fileURLToPath(import.meta.url));

const ENTRIES = {
  dashboard: path.join(here, 'app/main.ts'),
  'dashboard-style': path.join(here, 'app/styles.css'),
  sandbox: path.join(here, '../sandbox/page/main.ts'),
  'sandbox-style': path.join(here, '../sandbox/page/phone.css'),
};

const ICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" rx="14" fill="#0b6b50"/><path d="M16 46l3.5-9.5A17 17 0 1 1 27 44z" fill="#fff"/></svg>`;

let built: Promise<PageAssets> | null = null;

/**
 * The dashboard and sandbox pages, bundled by esbuild in memory the first
 * time they are asked for (about a tenth of a second), so that a fresh clone
 * serves them with no build step and nothing is written to disk. No CDN: every
 * byte comes from this server.
 */
export function pageAssets(): Promise<PageAssets> {
  built ??= buildAssets().catch((err: unknown) => {
    built = null;
    throw err;
  });
  return built;
}

async function buildAssets(): Promise<PageAssets> {
  // Loaded here, not at start: a gateway that never serves a page never pays for the bundler.
  const { build } = await import('esbuild');
  const result = await build({
    entryPoints: ENTRIES,
    bundle: true,
    write: false,
    outdir: path.join(here, 'out'),
    entryNames: '[name]-[hash]',
    format: 'esm',
    platform: 'browser',
    target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
    minify: true,
    legalComments: 'none',
    define: { 'process.env.NODE_ENV': '"production"' },
    logLevel: 'silent',
  });
  const files = new Map<string, Asset>();
  const byEntry = new Map<string, string>();
  for (const out of result.outputFiles) {
    const name = path.basename(out.path);
    files.set(name, { body: Buffer.from(out.contents), type: name.endsWith('.css') ? 'text/css; charset=utf-8' : 'text/javascript; charset=utf-8' });
    // "<entry>-<hash>.<ext>": esbuild's hashes hold no "-", so the entry is everything before the last one.
    byEntry.set(name.slice(0, name.lastIndexOf('-')), name);
  }
  const icon = `icon-${createHash('sha256').update(ICON).digest('hex').slice(0, 8)}.svg`;
  files.set(icon, { body: Buffer.from(ICON), type: 'image/svg+xml' });
  const need = (k: keyof typeof ENTRIES) => {
    const n = byEntry.get(k);
    if (!n) throw new Error(`the page build produced no file for ${k}`);
    return n;
  };
  return {
    files,
    dashboardHtml: page('wagate', need('dashboard-style'), need('dashboard'), icon),
    sandboxHtml: page('wagate sandbox: write as a customer', need('sandbox-style'), need('sandbox'), icon),
  };
}

/** A page shell: no inline script or style, so the CSP can forbid both. */
function page(title: string, css: string, js: string, icon: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light">
<title>${title}</title>
<link rel="icon" href="/assets/${icon}" type="image/svg+xml">
<link rel="stylesheet" href="/assets/${css}">
<script type="module" src="/assets/${js}"></script>
</head>
<body>
<div id="app"></div>
<noscript><p>This page needs JavaScript.</p></noscript>
</body>
</html>
`;
}
