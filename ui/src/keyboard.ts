// Keyboard shortcuts, decided purely from the key and where the focus is.
export type Shortcut = "togglePlay" | "focusChat" | "closeDialog";

export type KeyInfo = {
  key: string;
  ctrlKey?: boolean;
  metaKey?: boolean;
  altKey?: boolean;
  target: EventTarget | null;
};

export type KeyContext = { dialogOpen: boolean; canControl: boolean; inRoom: boolean };

function isTextEntry(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable) return true;
  return target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement;
}

export function shortcutFor(e: KeyInfo, ctx: KeyContext): Shortcut | null {
  if (e.key === "Escape") return ctx.dialogOpen ? "closeDialog" : null;
  if (e.ctrlKey || e.metaKey || e.altKey || ctx.dialogOpen || !ctx.inRoom) return null;
  if (isTextEntry(e.target)) return null;
  // Space on a focused button presses that button, as it should.
  if (e.key === " " && ctx.canControl && !(e.target instanceof HTMLButtonElement)) return "togglePlay";
  if (e.key === "/") return "focusChat";
  return null;
}
