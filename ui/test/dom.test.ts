import { describe, expect, it } from "vitest";
import { h, morph } from "../src/dom";

describe("h", () => {
  it("sets attributes, skips false/null, flattens children", () => {
    const el = h("button", { disabled: true, hidden: false, title: null, "data-n": 3 }, "a", ["b", null, ["c"]], 4);
    expect(el.outerHTML).toBe('<button disabled="" data-n="3">abc4</button>');
  });
});

describe("morph", () => {
  it("keeps keyed elements (and so focus and typed text) when their order changes", () => {
    const live = h("ul", null, h("li", { "data-key": "a" }, "A"), h("li", { "data-key": "b" }, h("input", { value: "x" })));
    document.body.replaceChildren(live);
    const input = live.querySelector("input")!;
    input.value = "typed";
    const b = live.children[1];
    morph(live, h("ul", null, h("li", { "data-key": "b", class: "moved" }, h("input", { value: "x" })), h("li", { "data-key": "c" }, "C"), h("li", { "data-key": "a" }, "A2")));
    expect(live.children[0]).toBe(b);
    expect(live.children[0]?.className).toBe("moved");
    expect(live.querySelector("input")).toBe(input);
    expect(input.value).toBe("typed");
    expect(Array.from(live.children).map((c) => c.textContent)).toEqual(["", "C", "A2"]);
  });

  it("removes attributes and extra children, updates text", () => {
    const live = h("div", { class: "x", title: "t" }, h("p", null, "one"), h("p", null, "two"));
    morph(live, h("div", { class: "y" }, h("p", null, "uno")));
    expect(live.outerHTML).toBe('<div class="y"><p>uno</p></div>');
  });

  it("drives controlled fields from state but leaves others alone", () => {
    const live = h("div", null, h("input", { type: "range", max: 100, value: 10, "data-controlled": true }), h("input", { value: "a" }));
    const [range, text] = Array.from(live.querySelectorAll("input"));
    range!.value = "50";
    text!.value = "edited";
    morph(live, h("div", null, h("input", { type: "range", max: 100, value: 20, "data-controlled": true }), h("input", { value: "b" })));
    expect(range!.value).toBe("20");
    expect(text!.value).toBe("edited");
  });

  it("replaces an element whose tag changed", () => {
    const live = h("div", null, h("span", null, "s"));
    morph(live, h("div", null, h("b", null, "b")));
    expect(live.innerHTML).toBe("<b>b</b>");
  });
});
