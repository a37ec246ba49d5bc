"""Open every page of a built book in headless Chromium at a given width and list what scrolls
sideways: a table, code block or output wider than its box, or the page itself.

Run: ``python scripts/check_book_layout.py [book/_build/cpu/_build/html] [--width 1280]``;
prints one line per page (``ok`` or what scrolls, with its width and the room it had) and exits
1 if anything does. Needs Debian's ``chromium`` (``apt-get install chromium``); nothing else.
Each page is copied beside itself with a script that measures the laid-out page and writes the
result into the DOM, which ``chromium --dump-dom`` prints.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

MEASURE = """<script>
window.addEventListener('load', () => {
  const found = [];
  const root = document.querySelector('article') || document.body;
  for (const el of root.querySelectorAll('*')) {
    const ox = getComputedStyle(el).overflowX;
    if ((ox === 'auto' || ox === 'scroll') && el.scrollWidth > el.clientWidth + 1 && el.clientWidth > 0) {
      const t = el.querySelector('table, pre');
      const what = t ? t.tagName.toLowerCase() : el.tagName.toLowerCase();
      const cap = t && t.caption ? t.caption.textContent : (el.textContent || '');
      found.push({what, width: el.scrollWidth, room: el.clientWidth, text: cap.trim().slice(0, 70)});
    }
  }
  const room = root.getBoundingClientRect().right;
  for (const el of root.querySelectorAll('table, pre')) {  // wider than the column, whatever its box does
    const r = el.getBoundingClientRect();
    if (r.width > 0 && r.right > room + 1 && !found.some(f => f.el === el))
      found.push({what: el.tagName.toLowerCase() + ' beyond the column', width: Math.round(r.width),
                  room: Math.round(room - r.left), text: (el.caption ? el.caption.textContent : el.textContent).trim().slice(0, 70)});
  }
  const page = document.documentElement;
  if (page.scrollWidth > window.innerWidth + 1)
    found.push({what: 'page', width: page.scrollWidth, room: window.innerWidth, text: ''});
  const pre = document.createElement('pre');
  pre.id = 'layout-report';
  pre.textContent = JSON.stringify(found);
  document.body.appendChild(pre);
});
</script>"""


def chromium() -> str | None:
    """The Chromium binary, if one is installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def sideways(page: Path, width: int = 1280, browser: str | None = None) -> list[dict]:
    """What scrolls sideways on ``page`` (a built HTML file) in a ``width``-pixel window."""
    probe = page.with_name(f".layout-{page.name}")
    probe.write_text(page.read_text().replace("</body>", MEASURE + "</body>"))
    out, m = "", None
    try:
        for _ in range(2):  # a cold Chromium start can exit before the page's load event: try once more
            out = subprocess.run([browser or chromium(), "--headless", "--no-sandbox", "--disable-gpu",
                                  f"--window-size={width},900", "--virtual-time-budget=8000", "--dump-dom",
                                  probe.resolve().as_uri()], capture_output=True, text=True, timeout=120).stdout
            m = re.search(r'<pre id="layout-report"[^>]*>(.*?)</pre>', out, re.S)
            if m:
                break
    finally:
        probe.unlink(missing_ok=True)
    if not m:
        raise RuntimeError(f"{page}: the measuring script did not report (Chromium output {len(out)} chars)")
    return json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("html", nargs="?", default="book/_build/cpu/_build/html")
    ap.add_argument("--width", type=int, default=1280)
    args = ap.parse_args()
    if not chromium():
        print("no Chromium here: apt-get install chromium", file=sys.stderr)
        return 2
    bad = 0
    for page in sorted(Path(args.html).rglob("*.html")):
        if page.name.startswith((".layout-", "genindex", "search")) or "_static" in page.parts \
                or "</body>" not in page.read_text():  # a redirect (index.html)
            continue
        found = sideways(page, args.width)
        bad += bool(found)
        rel = page.relative_to(args.html)
        print(f"{rel}: " + ("ok" if not found else "; ".join(f"{f['what']} {f['width']} px in {f['room']} px "
                                                               f"({f['text']!r})" for f in found)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
