// Tells the room "typing" once when the chat box starts changing, and "not typing" after
// a quiet spell, on send, or when the box is emptied.
export const TYPING_IDLE_MS = 3000;

export class TypingTracker {
  private active = false;
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly send: (typing: boolean) => void,
    private readonly idleMs = TYPING_IDLE_MS,
  ) {}

  /** The chat box now holds `text`. */
  input(text: string): void {
    if (!text.trim()) {
      this.stop();
      return;
    }
    if (!this.active) {
      this.active = true;
      this.send(true);
    }
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.stop(), this.idleMs);
  }

  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.active) {
      this.active = false;
      this.send(false);
    }
  }
}
