"""The stylesheet of the HTML report (:mod:`cfsal.report.html`): one page, no external files."""

PAGE_CSS = """
:root { --fg:#1f2328; --muted:#59636e; --line:#d1d9e0; --bg:#f6f8fa; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.5 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color:var(--fg);
       background:#fff; }
main { max-width: 1080px; margin: 0 auto; padding: 24px 20px 64px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 0; }
h3 { font-size: 15px; margin: 18px 0 6px; }
a { color:#0969da; }
code, .mono { font: 13px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.muted { color: var(--muted); }
.banner { border:1px solid #d4a72c; background:#fff8c5; padding:10px 14px; border-radius:6px; margin:14px 0; }
.card { border:1px solid var(--line); border-radius:8px; padding:18px 20px; margin:18px 0; }
.summary { background: var(--bg); }
.badge { display:inline-block; padding:1px 9px; border-radius:999px; color:#fff; font-size:12px;
         font-weight:600; letter-spacing:.02em; vertical-align:middle; white-space:nowrap; }
.badge.outline { background:#fff !important; border:1px solid currentColor; }
.counts { display:flex; gap:10px; flex-wrap:wrap; margin:10px 0 14px; }
.counts .badge { font-size:14px; padding:3px 12px; }
dl.facts { display:grid; grid-template-columns: max-content 1fr; gap:3px 16px; margin:10px 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin:0; overflow-wrap:anywhere; }
table { border-collapse: collapse; width:100%; font-size:14px; }
th, td { text-align:left; padding:6px 8px; border-bottom:1px solid var(--line); vertical-align:top; }
th { color: var(--muted); font-weight:600; }
td.num { font-variant-numeric: tabular-nums; white-space:nowrap; }
.hyp-head { display:flex; justify-content:space-between; align-items:flex-start; gap:12px; flex-wrap:wrap; }
.claim { font-size:16px; margin:10px 0; padding:8px 14px; border-left:4px solid var(--line); background:var(--bg); }
.cols { display:grid; grid-template-columns: minmax(0,1fr) minmax(0,1.25fr); gap:22px; align-items:start; }
@media (max-width: 820px) { .cols { grid-template-columns: 1fr; } }
img.plot { width:100%; height:auto; border:1px solid var(--line); border-radius:6px; }
.frames { display:flex; gap:18px; flex-wrap:wrap; }
figure { margin:0; flex:1 1 280px; max-width: 400px; }
figure img { width:100%; height:auto; image-rendering: pixelated; border:1px solid var(--line); border-radius:4px; }
figcaption { font-size:13px; color:var(--muted); margin-top:4px; }
.note { font-size:13px; color:var(--muted); }
.error { background:#ffebe9; border:1px solid #ff8182; padding:8px 12px; border-radius:6px; white-space:pre-wrap; }
.up { color:#1a7f37; } .down { color:#cf222e; }
footer { margin-top: 40px; font-size: 13px; color: var(--muted); }
"""
