// Who is here: avatar or initials, name, audio state, typing, host badge.
import type { AudioState, Person, RoomView } from "../bindings";
import { initials, isImageRef } from "../derive";
import { h } from "../dom";

const AUDIO: Record<AudioState, [icon: string, label: string]> = {
  playing: ["♪", "listening"],
  buffering: ["⏳", "buffering"],
  paused: ["❚❚", "paused"],
  idle: ["·", "idle"],
};

export function avatar(person: { name: string; avatar: string | null }): HTMLElement {
  const a = person.avatar?.trim();
  if (a && isImageRef(a)) return h("span", { class: "avatar" }, h("img", { src: a, alt: "" }));
  return h("span", { class: `avatar${a ? " custom" : ""}`, "aria-hidden": "true" }, a || initials(person.name));
}

function person(p: Person, me: string): HTMLElement {
  const [icon, label] = AUDIO[p.audio] ?? AUDIO.idle;
  return h(
    "li",
    { class: "person", "data-key": p.id, "data-testid": "person", "data-user-id": p.id },
    avatar(p),
    h(
      "span",
      { class: "who" },
      h("span", { class: "name" }, p.name, p.id === me ? h("span", { class: "muted" }, " (you)") : null),
      p.isHost ? h("span", { class: "badge host" }, "Host") : null,
      p.typing ? h("span", { class: "person-typing" }, "typing…") : null,
    ),
    h("span", { class: `audio ${p.audio}`, title: label, "aria-label": `Audio: ${label}` }, icon),
  );
}

export function peoplePanel(view: RoomView): HTMLElement {
  return h(
    "section",
    { class: "card people-panel", "aria-labelledby": "people-title" },
    h("h2", { id: "people-title", class: "panel-title" }, "Here ", h("span", { class: "muted" }, `(${view.people.length})`)),
    h(
      "ul",
      { class: "people", "data-testid": "people", "aria-label": "People in the room" },
      view.people.map((p) => person(p, view.me)),
    ),
  );
}
