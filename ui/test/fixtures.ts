import type { ChatLine, NowPlaying, Person, QueueEntry, RoomView, Settings } from "../src/bindings";
import { responded, type Cmd, type Replies, type RequestOf } from "../src/requests";
import { initialState, reduce, type Action, type AppState } from "../src/state";

export const NOW = 1_700_000_000_000;

export function track(id: string, over: Partial<QueueEntry> = {}): QueueEntry {
  return {
    id,
    title: `Song ${id}`,
    artist: "Artist",
    album: null,
    durationMs: 180_000,
    addedBy: "ann",
    votes: 0,
    downVotes: 0,
    myVote: null,
    unplayable: null,
    mine: false,
    ...over,
  };
}

export function person(id: string, over: Partial<Person> = {}): Person {
  return { id, name: id.toUpperCase(), avatar: null, audio: "playing", typing: false, isHost: false, ...over };
}

export function chat(id: string, text: string, fromId = "u2"): ChatLine {
  return { id, from: fromId.toUpperCase(), fromId, text, atMs: NOW };
}

export function playing(over: Partial<NowPlaying> = {}): NowPlaying {
  return {
    trackId: "t0",
    title: "Opening",
    artist: "Band",
    album: "Record",
    durationMs: 200_000,
    positionMs: 10_000,
    atMs: NOW,
    playing: true,
    coverUrl: null,
    ...over,
  };
}

export function view(over: Partial<RoomView> = {}): RoomView {
  return {
    name: "Friday",
    role: "host",
    invite: "whatssound://join?ws=ws%3A%2F%2F127.0.0.1%3A7667&room=k3&token=abc",
    me: "u1",
    nowPlaying: playing(),
    queue: [track("t1"), track("t2", { mine: true }), track("t3", { unplayable: "unsupported codec" })],
    chat: [chat("c1", "hello"), chat("c2", "hi back", "u1")],
    people: [person("u1", { isHost: true }), person("u2", { name: "Bob" })],
    closed: false,
    ...over,
  };
}

export const settings: Settings = {
  displayName: "Ann",
  avatar: "🎧",
  outputDevice: null,
  volume: 0.8,
  offsetMs: 0,
  relay: null,
  listen: null,
  publicUrl: null,
  tunnel: null,
};

export function ok<K extends Cmd>(req: RequestOf<K>, data: Replies[K]): Action {
  return responded(req, { status: "ok", data });
}

export function err<K extends Cmd>(req: RequestOf<K>, message = "boom", kind: "network" | "notInRoom" | "badInput" = "network"): Action {
  return responded(req, { status: "error", error: { kind, message } });
}

export function run(...actions: Action[]): AppState {
  return actions.reduce(reduce, initialState());
}

/** A state inside a room, as after a successful currentRoom. */
export function inRoom(over: Partial<RoomView> = {}): AppState {
  return run(ok({ cmd: "currentRoom" }, view(over)));
}
