// A tiny DOM toolkit: `h` builds elements, `morph` updates a live tree to match a freshly
// built one in place, so focus, scroll positions, text being typed and running CSS
// animations survive re-rendering. Children with `data-key` are matched by key.

export type AttrValue = string | number | boolean | null | undefined;
export type Attrs = Record<string, AttrValue>;
export type Child = Node | string | number | null | undefined | false | Child[];

export function h(tag: string, attrs?: Attrs | null, ...children: Child[]): HTMLElement {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === false || value === null || value === undefined) continue;
    el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

const SVG_NS = "http://www.w3.org/2000/svg";

/** A small inline SVG icon (24×24 view box) from path data; decorative. */
export function svgIcon(...paths: string[]): SVGSVGElement {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", "20");
  svg.setAttribute("height", "20");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("fill", "currentColor");
  for (const d of paths) {
    const path = document.createElementNS(SVG_NS, "path");
    path.setAttribute("d", d);
    svg.appendChild(path);
  }
  return svg;
}

function append(parent: Node, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    else parent.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
  }
}

function keyOf(node: Node): string | null {
  return node instanceof Element ? node.getAttribute("data-key") : null;
}

function syncAttributes(from: Element, to: Element): void {
  for (const attr of Array.from(from.attributes)) {
    if (!to.hasAttribute(attr.name)) from.removeAttribute(attr.name);
  }
  for (const attr of Array.from(to.attributes)) {
    if (from.getAttribute(attr.name) !== attr.value) from.setAttribute(attr.name, attr.value);
  }
  // Form fields marked `data-controlled` follow the state; the others keep what was typed.
  if (to.hasAttribute("data-controlled")) {
    if (from instanceof HTMLInputElement && to instanceof HTMLInputElement) {
      if (from.value !== to.value) from.value = to.value;
      if (from.checked !== to.hasAttribute("checked")) from.checked = to.hasAttribute("checked");
    } else if (from instanceof HTMLSelectElement && to instanceof HTMLSelectElement) {
      if (from.value !== to.value) from.value = to.value;
    }
  }
}

function patch(from: Node, to: Node): void {
  if (from.nodeType === Node.TEXT_NODE) {
    if (from.nodeValue !== to.nodeValue) from.nodeValue = to.nodeValue;
    return;
  }
  if (from instanceof Element && to instanceof Element) {
    syncAttributes(from, to);
    morphChildren(from, to);
  }
}

function sameKind(a: Node, b: Node): boolean {
  return a.nodeType === b.nodeType && a.nodeName === b.nodeName && keyOf(a) === keyOf(b);
}

/** Make `from`'s children match `to`'s, reusing nodes where they fit. */
export function morphChildren(from: Element, to: Element): void {
  const keyed = new Map<string, Node>();
  for (const child of Array.from(from.childNodes)) {
    const key = keyOf(child);
    if (key !== null) keyed.set(key, child);
  }
  let cursor: Node | null = from.firstChild;
  for (const next of Array.from(to.childNodes)) {
    const key = keyOf(next);
    let match: Node | null = null;
    if (key !== null) {
      const found = keyed.get(key);
      if (found && found.nodeName === next.nodeName) match = found;
      keyed.delete(key);
    } else if (cursor && sameKind(cursor, next)) {
      match = cursor;
    }
    if (match) {
      if (match === cursor) cursor = cursor.nextSibling;
      else from.insertBefore(match, cursor);
      patch(match, next);
    } else {
      from.insertBefore(next, cursor);
    }
  }
  while (cursor) {
    const gone: Node = cursor;
    cursor = cursor.nextSibling;
    from.removeChild(gone);
  }
}

/** Update the live element `target` so it looks like `fresh` (same tag expected). */
export function morph(target: Element, fresh: Element): void {
  if (target.nodeName !== fresh.nodeName) {
    target.replaceWith(fresh);
    return;
  }
  patch(target, fresh);
}
