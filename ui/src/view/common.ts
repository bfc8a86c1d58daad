// Shared view pieces: loading / error-with-Retry blocks and small widgets.
import { h, type Child } from "../dom";
import { encodeRequest, type Request } from "../requests";
import type { Loadable, Op } from "../state";

export function loadingBlock(what: string): HTMLElement {
  return h(
    "div",
    { class: "loading", role: "status", "aria-busy": "true", "data-testid": "loading" },
    h("span", { class: "spinner", "aria-hidden": "true" }),
    `Loading ${what}…`,
  );
}

export function retryButton(req: Request, label = "Retry"): HTMLElement {
  return h(
    "button",
    { type: "button", class: "btn small", "data-action": "retry", "data-retry": encodeRequest(req), "aria-label": `${label}` },
    label,
  );
}

export function errorBlock(message: string, retry: Request | null, extra?: Child): HTMLElement {
  return h(
    "div",
    { class: "error", role: "alert", "data-testid": "error" },
    h("span", { class: "error-text" }, message),
    retry ? retryButton(retry) : null,
    extra ?? null,
  );
}

/** Loading, then the data or a readable error with a Retry button — never blank. */
export function loadable<T>(l: Loadable<T>, what: string, ready: (data: T) => Child): Child {
  switch (l.state) {
    case "loading":
      return loadingBlock(what);
    case "error":
      return errorBlock(l.message, l.retry);
    case "ready":
      return ready(l.data);
  }
}

/** An Op's error, if it has one. */
export function opError(op: Op): HTMLElement | null {
  return op.state === "error" ? errorBlock(op.message, op.retry) : null;
}

export function busy(op: Op): boolean {
  return op.state === "loading";
}
