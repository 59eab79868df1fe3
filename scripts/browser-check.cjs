// Checks a generated bnproof site in headless Chromium (see browser-check.sh).
// Usage: node browser-check.cjs SITE_DIR SCREENSHOT.png
// Env: BROWSER_CHECK_MODULES (node_modules holding playwright-core),
//      CHROMIUM (the browser executable).
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { pathToFileURL, fileURLToPath } = require('url');
const { chromium } = require(path.join(process.env.BROWSER_CHECK_MODULES, 'playwright-core'));

const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

// A page whose formulas cannot render: one hidden, one empty, one that the
// browser would show as plain inline text if MathML were not supported.
const BROKEN = `<!DOCTYPE html><html><head><meta charset="utf-8"><title>broken</title></head><body>
<div style="display:none"><math><mi>x</mi></math></div>
<p><math></math></p>
<p><math style="display:inline"><mfrac><mi>a</mi><mi>b</mi></mfrac></math></p>
<a href="missing.html">a dead link</a> <a href="#nowhere">a dead anchor</a>
<math display="block"><mrow>${'<mi>x</mi><mo>+</mo>'.repeat(300)}<mi>x</mi></mrow></math>
</body></html>`;

// The widest a formula on a model page may be, in CSS px (the viewport).
const MAX_WIDTH = 1200;

/** Check one page; returns a list of problems and counts. */
async function checkPage(context, file) {
  const problems = [];
  const page = await context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('request', (r) => {
    if (!r.url().startsWith('file:') && !r.url().startsWith('data:')) {
      problems.push(`network request: ${r.url()}`);
    }
  });
  page.on('requestfailed', (r) => problems.push(`failed to load ${r.url()}`));
  const response = await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
  if (!response || !response.ok()) problems.push('the page did not load');
  const info = await page.evaluate(() => {
    const maths = [...document.querySelectorAll('math')].map((m) => {
      const r = m.getBoundingClientRect();
      // A displayed formula's box is as wide as the page; its content is
      // what may overflow (and scroll): measure the children.
      let left = Infinity;
      let right = -Infinity;
      for (const c of m.children) {
        const q = c.getBoundingClientRect();
        left = Math.min(left, q.left);
        right = Math.max(right, q.right);
      }
      const ink = right > left ? right - left : 0;
      const text = m.textContent.replace(/\s+/g, ' ').trim();
      return {
        w: r.width, h: r.height, ink, display: getComputedStyle(m).display,
        text: text.length > 80 ? `${text.slice(0, 77)}...` : text,
      };
    });
    const links = [...document.querySelectorAll('a[href]')].map((a) => ({
      href: a.getAttribute('href'),
      url: a.href,
    }));
    const graphs = [...document.querySelectorAll('svg.graph')].map((g) => {
      const r = g.getBoundingClientRect();
      return { w: r.width, h: r.height, nodes: g.querySelectorAll('g.node').length };
    });
    return { maths, links, graphs, title: document.title };
  });
  const isModel = path.basename(file).startsWith('model-');
  info.maths.forEach((m, k) => {
    if (!(m.w > 0 && m.h > 0)) problems.push(`formula #${k + 1} has size ${m.w}×${m.h}`);
    // MathML Core gives <math> the display types "math" / "block math";
    // without MathML it would be a plain inline box.
    if (!m.display.includes('math')) problems.push(`formula #${k + 1} is not laid out as MathML (display: ${m.display})`);
    if (isModel && m.ink > MAX_WIDTH) {
      problems.push(`formula #${k + 1} is ${m.ink.toFixed(0)} px wide (over ${MAX_WIDTH}): ${m.text}`);
    }
  });
  // Every model page carries its computational graph, drawn with a size.
  if (isModel) {
    if (!info.graphs.some((g) => g.w > 0 && g.h > 0 && g.nodes > 0)) {
      problems.push(`graph figure missing or empty: ${JSON.stringify(info.graphs)}`);
    }
  }
  let linksChecked = 0;
  for (const l of info.links) {
    const u = new URL(l.url);
    if (u.protocol !== 'file:') {
      problems.push(`link leaves the site: ${l.href}`);
      continue;
    }
    const target = fileURLToPath(u);
    linksChecked += 1;
    if (!fs.existsSync(target)) {
      problems.push(`dead link: ${l.href}`);
      continue;
    }
    if (u.hash) {
      const id = decodeURIComponent(u.hash.slice(1));
      const html = fs.readFileSync(target, 'utf8');
      if (!html.includes(`id="${id}"`)) problems.push(`dead anchor: ${l.href}`);
    }
  }
  const sizes = info.maths.map((m) => [m.ink, m.h]);
  return { page, problems, maths: info.maths.length, graphs: info.graphs.length, sizes, links: linksChecked };
}

async function main() {
  const [siteDir, screenshot] = process.argv.slice(2);
  if (!siteDir || !screenshot) {
    console.error('usage: browser-check.cjs SITE_DIR SCREENSHOT.png');
    process.exit(2);
  }
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'bnproof-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ARGS,
    viewport: { width: 1200, height: 900 },
  });
  let failed = false;
  try {
    // The negative control: the check must reject a page with broken math.
    const brokenDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bnproof-broken-'));
    // Named as a model page, so the graph figure is required (and missing).
    const brokenFile = path.join(brokenDir, 'model-broken.html');
    fs.writeFileSync(brokenFile, BROKEN);
    const control = await checkPage(context, brokenFile);
    await control.page.close();
    const wideProblems = control.problems.filter((p) => / px wide /.test(p));
    const mathProblems = control.problems.filter((p) => p.startsWith('formula') && !wideProblems.includes(p));
    const linkProblems = control.problems.filter((p) => p.startsWith('dead'));
    const graphProblems = control.problems.filter((p) => p.startsWith('graph figure'));
    if (mathProblems.length < 3 || linkProblems.length < 2 || graphProblems.length < 1 || wideProblems.length < 1) {
      console.error('FAIL: the check accepted a page with broken or too wide MathML or dead links:', control.problems);
      failed = true;
    } else {
      console.log(`negative control rejected as it must be: ${control.problems.length} problems (${mathProblems.length} formulas, ${wideProblems.length} too wide, ${linkProblems.length} links, ${graphProblems.length} graph)`);
    }

    const pages = fs.readdirSync(siteDir).filter((f) => f.endsWith('.html')).sort();
    if (!pages.includes('index.html')) {
      console.error('FAIL: the site has no index.html');
      failed = true;
    }
    let maths = 0;
    let graphs = 0;
    let links = 0;
    let errors = 0;
    let minW = Infinity;
    let minH = Infinity;
    let maxW = 0;
    for (const f of pages) {
      const r = await checkPage(context, path.resolve(siteDir, f));
      maths += r.maths;
      graphs += r.graphs;
      links += r.links;
      let pageMax = 0;
      for (const [w, h] of r.sizes) {
        minW = Math.min(minW, w);
        minH = Math.min(minH, h);
        maxW = Math.max(maxW, w);
        pageMax = Math.max(pageMax, w);
      }
      console.log(`${f}: ${r.maths} formulas, widest ${pageMax.toFixed(1)} px`);
      if (r.problems.length) {
        failed = true;
        errors += r.problems.length;
        for (const p of r.problems) console.error(`FAIL ${f}: ${p}`);
      }
      if (f === 'explain-seed.html') {
        // Section 4: Eq. (1) and its kernel-checked proof.
        await r.page.locator('#s4').scrollIntoViewIfNeeded();
        await r.page.evaluate(() => document.getElementById('s4').scrollIntoView());
        await r.page.screenshot({ path: screenshot, fullPage: false });
        console.log(`screenshot of ${f} written to ${screenshot}`);
      }
      await r.page.close();
    }
    if (!fs.existsSync(screenshot)) {
      console.error('FAIL: no seed page to screenshot');
      failed = true;
    }
    if (maths === 0) {
      console.error('FAIL: no MathML formula on any page');
      failed = true;
    }
    console.log(
      `${pages.length} pages, ${graphs} graph figures, ${maths} MathML formulas (width ${minW.toFixed(1)}–${maxW.toFixed(1)} px, ` +
        `min height ${minH.toFixed(1)} px), ${links} links checked, ${errors} problems`,
    );
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  if (failed) {
    console.error('browser check FAILED');
    process.exit(1);
  }
  console.log('browser check passed');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
