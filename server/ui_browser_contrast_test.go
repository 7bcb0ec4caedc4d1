package server

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/omniq/omniq/engine"
)

// contrastJS measures, in the page, the WCAG 2.x contrast ratio of every
// element that shows text of its own: HTML elements with a text node,
// form fields with a value or a placeholder, and SVG text (whose colour is
// its fill). The background is the first non-transparent one found going
// up the ancestors, the semi-transparent ones on the way blended over it
// (the canvas is white); for SVG text, the shape drawn before it under its
// middle (a graph node's box) comes first. An element's opacity, and its
// ancestors', blends its text into that background. A ratio under 4.5:1
// fails, under 3:1 for large text (24px, or 18.66px bold).
const contrastJS = `(() => {
  const parse = (c) => {
    const m = /rgba?\(([^)]+)\)/.exec(c || "");
    if (!m) return null;
    const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(parseFloat);
    return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1};
  };
  const over = (top, bottom) => ({
    r: top.r * top.a + bottom.r * (1 - top.a),
    g: top.g * top.a + bottom.g * (1 - top.a),
    b: top.b * top.a + bottom.b * (1 - top.a), a: 1});
  const lum = (c) => {
    const ch = (v) => { v /= 255; return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * ch(c.r) + 0.7152 * ch(c.g) + 0.0722 * ch(c.b);
  };
  const hex = (c) => "#" + [c.r, c.g, c.b].map((v) => Math.round(v).toString(16).padStart(2, "0")).join("");
  // svgUnder is the fill of the last shape drawn before el, in its SVG,
  // under the middle of el's box (a graph node's box under its label).
  const svgUnder = (el) => {
    const svg = el.ownerSVGElement;
    if (!svg) return null;
    const r = el.getBoundingClientRect();
    const x = r.left + r.width / 2, y = r.top + r.height / 2;
    let found = null;
    for (const s of svg.querySelectorAll("rect, circle, ellipse, path, polygon")) {
      if (s.closest("defs, marker") || (s.compareDocumentPosition(el) & Node.DOCUMENT_POSITION_FOLLOWING) === 0) continue;
      const b = s.getBoundingClientRect();
      const f = parse(getComputedStyle(s).fill);
      if (f && f.a > 0 && x >= b.left && x <= b.right && y >= b.top && y <= b.bottom) found = f;
    }
    return found;
  };
  const background = (el) => {
    const layers = [];
    const under = el instanceof SVGElement ? svgUnder(el) : null;
    if (under) layers.push(under);
    if (!under || under.a < 1) {
      for (let e = el; e; e = e.parentElement) {
        const c = parse(getComputedStyle(e).backgroundColor);
        if (c && c.a > 0) { layers.push(c); if (c.a >= 1) break; }
      }
    }
    let bg = {r: 255, g: 255, b: 255, a: 1};
    for (let i = layers.length - 1; i >= 0; i--) bg = over(layers[i], bg);
    return bg;
  };
  const opacity = (el) => {
    let o = 1;
    for (let e = el; e; e = e.parentElement) o *= parseFloat(getComputedStyle(e).opacity || "1");
    return o;
  };
  const label = (el) => el.localName + (el.id ? "#" + el.id : "") +
    (el.getAttribute("class") ? "." + el.getAttribute("class").trim().split(/\s+/).join(".") : "");
  const out = {min: 100, lowest: "", count: 0, offenders: []};
  const check = (el, color, what) => {
    const st = getComputedStyle(el);
    if (st.visibility !== "visible" || !el.getClientRects().length) return;
    if (el.checkVisibility && !el.checkVisibility({opacityProperty: true, visibilityProperty: true})) return;
    const bg = background(el);
    let fg = parse(color);
    if (!fg) return;
    fg = over({...fg, a: fg.a * opacity(el)}, bg);
    const l1 = lum(fg), l2 = lum(bg);
    const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
    const size = parseFloat(st.fontSize), bold = parseInt(st.fontWeight, 10) >= 700;
    const large = size >= 24 || (size >= 18.66 && bold);
    const need = large ? 3 : 4.5;
    const say = label(el) + " " + JSON.stringify(what.trim().slice(0, 30)) + ": " + ratio.toFixed(2) +
      " (" + hex(fg) + " on " + hex(bg) + ", " + size + "px" + (bold ? " bold" : "") + ", needs " + need + ")";
    out.count++;
    if (ratio < out.min) { out.min = ratio; out.lowest = say; }
    if (ratio < need) out.offenders.push(say);
  };
  for (const el of document.querySelectorAll("body *")) {
    if (["script", "style", "title", "defs", "marker"].includes(el.localName) || el.closest("title, defs")) continue;
    if (["input", "textarea", "select"].includes(el.localName)) {
      if (el.type === "hidden") continue;
      if (el.value) check(el, getComputedStyle(el).color, el.value);
      else if (el.placeholder) check(el, getComputedStyle(el, "::placeholder").color, el.placeholder);
      continue;
    }
    const own = Array.from(el.childNodes).filter((n) => n.nodeType === 3).map((n) => n.textContent).join("");
    if (!own.trim()) continue;
    const st = getComputedStyle(el);
    check(el, el instanceof SVGElement ? st.fill : st.color, own);
  }
  return out;
})()`

// contrastReport is what contrastJS returns.
type contrastReport struct {
	Min       float64  `json:"min"`
	Lowest    string   `json:"lowest"` // the element of the lowest ratio
	Count     int      `json:"count"`
	Offenders []string `json:"offenders"`
}

// The contrast of every page's text, measured in headless Chromium: on
// the sign-in form, the overview (counts, charts, a paused queue, a
// flash), the task list, a task page with its graph and a failure, the
// schedules, the cluster, time travel (the form, the overview, a task and
// the list at a point), the bulk confirmation and the error page, every
// element with text reaches WCAG 2.x AA (4.5:1, or 3:1 for large text).
// It logs the lowest ratio per page.
func TestUIContrastInBrowser(t *testing.T) {
	chrome := browserTest(t)
	u := newUIServer(t, Config{Token: uiToken, UI: true})
	bg := context.Background()
	u.put("done", "mail", engine.StateCompleted)
	u.put("broken", "mail", engine.StateFailed)
	u.put("busy", "mail", engine.StateRunning)
	u.put("idle", "mail", engine.StatePending)
	u.enqueue(`{"id":"chain","func":"report","queue_name":"mail","depends_on":["done","idle"]}`)
	if err := u.q.Enqueue(bg, &engine.Task{ID: "later", Func: "f", QueueName: "mail", Schedule: &engine.Schedule{RunAt: time.Now().Add(time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	u.enqueue(`{"id":"tail","func":"f","queue_name":"mail","depends_on":["chain"]}`)
	u.put("dropped", "bulk", engine.StatePending)
	if err := u.q.Cancel(bg, "dropped"); err != nil {
		t.Fatal(err)
	}
	if err := u.q.Enqueue(bg, &engine.Task{ID: "hourly", Func: "tick", Schedule: &engine.Schedule{Interval: time.Hour}}); err != nil {
		t.Fatal(err)
	}
	if err := u.q.PauseQueue(bg, "bulk"); err != nil {
		t.Fatal(err)
	}
	mid := u.q.Position() - 2

	ctx := newBrowser(t, chrome, 1200, 120*time.Second)
	measure := func(name string) {
		t.Helper()
		r, err := chromedp.Run(ctx, chromedp.Evaluate[contrastReport](contrastJS))
		if err != nil {
			t.Fatalf("%s: measure contrast: %v", name, err)
		}
		if r.Count == 0 {
			t.Fatalf("%s: no text measured", name)
		}
		t.Logf("%-22s lowest contrast %5.2f:1 over %d elements with text: %s", name, r.Min, r.Count, r.Lowest)
		if len(r.Offenders) > 0 {
			t.Errorf("%s: %d elements under WCAG AA contrast:\n  %s", name, len(r.Offenders), strings.Join(r.Offenders, "\n  "))
		}
	}
	visit := func(name, path, wait string) {
		t.Helper()
		browserStep(ctx, t, name, chromedp.Navigate(u.url+path), chromedp.WaitVisible(chromedp.CSS(wait)))
		measure(name)
	}

	visit("sign in", "/ui/", "#token")
	browserStep(ctx, t, "sign in",
		chromedp.SendKeys(chromedp.ID("token"), uiToken),
		chromedp.Submit(chromedp.ID("login")),
		chromedp.WaitVisible(chromedp.ID("queues")),
		poll(`document.getElementById("live-status").textContent === "live"`),
		poll(`document.querySelectorAll("#chart-enqueued rect.bar").length === 60`),
	)
	measure("overview")
	browserStep(ctx, t, "a flash",
		chromedp.Navigate(u.url+"/ui/tasks/broken"),
		chromedp.WaitVisible(chromedp.ID("action-retry")),
	)
	measure("task (failed)")
	browserStep(ctx, t, "a flash",
		chromedp.Click(chromedp.ID("action-retry")),
		flashHas("was retried"),
	)
	measure("task (flash)")
	visit("task (graph)", "/ui/tasks/chain", "#graph")
	visit("tasks", "/ui/tasks", "#task-list")
	visit("schedules", "/ui/schedules", "#travel-form")
	visit("cluster", "/ui/cluster", "#cluster-node")
	visit("time travel", "/ui/at", "#travel-page-form")
	visit("overview at a point", fmt.Sprintf("/ui/at?position=%d", mid), "#travel-banner")
	visit("task at a point", fmt.Sprintf("/ui/tasks/chain?position=%d", mid), "#graph")
	visit("tasks at a point", fmt.Sprintf("/ui/tasks?position=%d", mid), "#task-list")
	visit("not found", "/ui/nope", "p.error")
	browserStep(ctx, t, "bulk confirmation",
		askConfirm(u.url+"/ui/tasks?queue=mail", "bulk-cancel"),
	)
	measure("bulk confirmation")
	browserStep(ctx, t, "delete confirmation",
		askConfirm(u.url+"/ui/tasks/done", "action-delete"),
	)
	measure("delete confirmation")
}
