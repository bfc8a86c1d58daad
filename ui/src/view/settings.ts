// The settings dialog: name, avatar, output device, volume, latency offset, and where the room runs.
import type { Settings } from "../bindings";
import { h } from "../dom";
import type { AppState, Loadable, SettingsDialog } from "../state";
import { busy, errorBlock, loadable, loadingBlock, opError } from "./common";

function field(label: string, id: string, input: HTMLElement, hint?: string): HTMLElement {
  return h(
    "div",
    { class: "field" },
    h("label", { for: id }, label),
    input,
    hint ? h("p", { class: "hint", id: `${id}-hint` }, hint) : null,
  );
}

function deviceSelect(devices: Loadable<string[]>, chosen: string | null): HTMLElement {
  const select = (options: HTMLElement[], disabled: boolean) =>
    h(
      "select",
      { id: "set-device", "data-field": "outputDevice", disabled, "aria-label": "Output device" },
      h("option", { value: "", selected: chosen === null }, "System default"),
      options,
    );
  const withChosen = (list: string[]) => (chosen !== null && !list.includes(chosen) ? [...list, chosen] : list);
  return h(
    "div",
    { class: "device" },
    loadable(devices, "output devices", (list) =>
      select(withChosen(list).map((d) => h("option", { value: d, selected: d === chosen }, d)), false),
    ),
  );
}

function input(attrs: Record<string, string | number | boolean | null>): HTMLElement {
  return h("input", attrs);
}

/** Who can reach rooms on the embedded hub: this computer only, or others on a listen address. */
function reachFields(d: Settings): HTMLElement {
  const shared = d.listen !== null;
  return h(
    "div",
    { class: "reach" },
    h(
      "label",
      { class: "check" },
      input({ type: "checkbox", id: "set-share", checked: shared, "data-controlled": true, "data-field": "share", "data-testid": "set-share", "aria-label": "Let other computers join" }),
      "Let other computers join",
    ),
    shared
      ? h(
          "div",
          { class: "field-row" },
          field(
            "Listen address",
            "set-listen",
            input({ id: "set-listen", type: "text", placeholder: "0.0.0.0:7667", value: d.listen ?? "", spellcheck: false, "data-field": "listen", "data-testid": "set-listen", "aria-label": "Listen address", "aria-describedby": "set-listen-hint" }),
            "Address and port; open the port on your router for listeners outside your network.",
          ),
          field(
            "Public address (optional)",
            "set-public",
            input({ id: "set-public", type: "text", placeholder: "wss://music.example.org", value: d.publicUrl ?? "", spellcheck: false, "data-field": "publicUrl", "data-testid": "set-public", "aria-label": "Public address", "aria-describedby": "set-public-hint" }),
            "What invites name, when listeners reach you through a forwarded port or a TLS proxy.",
          ),
        )
      : h("p", { class: "hint" }, "Only apps on this computer can join."),
    anywhereFields(d),
  );
}

/** Listeners anywhere, no port forwarded: a tunnel met at a relay server. */
function anywhereFields(d: Settings): HTMLElement {
  const on = d.tunnel !== null;
  return h(
    "div",
    { class: "anywhere" },
    h(
      "label",
      { class: "check" },
      input({ type: "checkbox", id: "set-anywhere", checked: on, "data-controlled": true, "data-field": "anywhere", "data-testid": "set-anywhere", "aria-label": "Let listeners anywhere join" }),
      "Let listeners anywhere join (no port forwarding)",
    ),
    on
      ? field(
          "Relay server",
          "set-tunnel",
          input({ id: "set-tunnel", type: "text", placeholder: "public", value: d.tunnel ?? "", spellcheck: false, "data-field": "tunnel", "data-testid": "set-tunnel", "aria-label": "Relay server", "aria-describedby": "set-tunnel-hint" }),
          "Where you and your listeners meet when your networks keep you apart: public (iroh's relays), or your own whatssound-cli p2p-relay, like http://relay.example.org:3340. It sees only encrypted bytes.",
        )
      : null,
  );
}

function whereFieldset(d: Settings): HTMLElement {
  const relay = d.relay;
  const radio = (value: string, checked: boolean, label: string) =>
    h(
      "label",
      { class: "radio" },
      input({ type: "radio", name: "where", value, checked, "data-controlled": true, "data-field": "where", "aria-label": label }),
      label,
    );
  return h(
    "fieldset",
    { class: "where" },
    h("legend", null, "Where rooms you host run"),
    radio("embedded", relay === null, "Embedded hub (on this computer)"),
    radio("relay", relay !== null, "External relay"),
    relay
      ? h(
          "div",
          { class: "field-row relay" },
          field("Relay URL", "set-relay-url", input({ id: "set-relay-url", type: "url", placeholder: "wss://relay.example/realtime/v1", value: relay.url, "data-field": "relayUrl", "aria-label": "Relay URL" })),
          field("Relay key", "set-relay-key", input({ id: "set-relay-key", type: "password", value: relay.key, autocomplete: "off", "data-field": "relayKey", "aria-label": "Relay key" })),
        )
      : reachFields(d),
  );
}

function form(s: AppState, d: Settings, dialog: SettingsDialog): HTMLElement {
  const saving = busy(dialog.save);
  const volume = Math.round((d.volume ?? 0) * 100);
  return h(
    "form",
    { class: "settings-form", novalidate: true, "data-form": "settings" },
    h(
      "div",
      { class: "field-row name-row" },
      field("Display name", "set-name", input({ id: "set-name", type: "text", maxlength: 40, required: true, value: d.displayName, "data-field": "displayName", "aria-label": "Display name" })),
      field("Avatar", "set-avatar", input({ id: "set-avatar", type: "text", maxlength: 8, placeholder: "🎧 or AB", value: d.avatar ?? "", "data-field": "avatar", "aria-label": "Avatar (an emoji or short text)" })),
    ),
    field("Output device", "set-device", deviceSelect(s.devices, d.outputDevice)),
    h(
      "div",
      { class: "field-row" },
      field(`Volume — ${volume}%`, "set-volume", input({ id: "set-volume", type: "range", min: 0, max: 100, step: 1, value: volume, "data-field": "volume", "aria-label": "Volume", "aria-valuetext": `${volume}%` })),
      field(
        "Latency offset (ms)",
        "set-offset",
        input({ id: "set-offset", type: "number", step: 1, min: -5000, max: 5000, value: d.offsetMs, "data-field": "offsetMs", "aria-label": "Latency offset in milliseconds", "aria-describedby": "set-offset-hint" }),
        "Positive plays earlier (for speakers that sound late).",
      ),
    ),
    whereFieldset(d),
    dialog.invalid ? errorBlock(dialog.invalid, null) : null,
    opError(dialog.save),
    h(
      "div",
      { class: "dialog-actions" },
      h("button", { type: "button", class: "btn ghost", "data-action": "settings-close", "aria-label": "Cancel" }, "Cancel"),
      h("button", { type: "submit", class: "btn primary", disabled: saving, "aria-busy": saving, "data-testid": "settings-save", "aria-label": "Save settings" }, saving ? "Saving…" : "Save"),
    ),
  );
}

export function settingsDialog(s: AppState): HTMLElement | null {
  const dialog = s.dialog;
  if (!dialog) return null;
  let body: HTMLElement;
  if (dialog.draft) body = form(s, dialog.draft, dialog);
  else if (s.settings.state === "error") body = errorBlock(s.settings.message, s.settings.retry);
  else body = loadingBlock("settings");
  return h(
    "div",
    { class: "backdrop", "data-action": "backdrop", "data-key": "settings" },
    h(
      "div",
      { class: "dialog", role: "dialog", "aria-modal": "true", "aria-labelledby": "settings-title", "data-testid": "settings" },
      h(
        "div",
        { class: "dialog-head" },
        h("h2", { id: "settings-title" }, "Settings"),
        h("button", { type: "button", class: "btn icon", "data-action": "settings-close", "aria-label": "Close settings" }, "✕"),
      ),
      body,
    ),
  );
}
