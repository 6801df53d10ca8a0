/**
 * How long a follower's leader has answered none of its forwards: the one
 * sign of a link cut from the follower to its leader alone. Such a site
 * still hears the leader (appends and heartbeats arrive), so it names a
 * leader and never campaigns, yet nothing it forwards gets there: without
 * this watch it would take writes and hold them until the link heals. A
 * follower with nothing to forward asks with an empty forward now and then
 * (see {@link ForwardWatch.quiet}), so it knows without writes too.
 *
 * Time is in the caller's ticks; the watch keeps no clock. A forward is
 * {@link ForwardWatch.started} and then ends one of three ways:
 * {@link ForwardWatch.answered} (the leader answered, whatever it said: it
 * is reachable), {@link ForwardWatch.failed} (no answer: a refused
 * connection, a reset, a timeout) or {@link ForwardWatch.dropped} (this
 * site gave it up, for another leader say: it says nothing of the link).
 *
 * @module
 */

/** A forward being watched, from {@link ForwardWatch.started}. */
export interface WatchedForward {
  readonly leader: string;
  /** The tick it started at. */
  readonly tick: number;
}

export class ForwardWatch {
  /** Forwards on their way. */
  readonly #open = new Set<WatchedForward>();
  /**
   * The oldest forward that failed since the leader it went to last
   * answered one (undefined once it answers, or when none failed).
   */
  #failed: WatchedForward | undefined;
  /** When a leader last answered a forward, and which. */
  #answered: { leader: string; tick: number } | undefined;

  /** Records a forward to `leader` starting at `tick`; end it with one of the three below. */
  started(leader: string, tick: number): WatchedForward {
    const f = { leader, tick };
    this.#open.add(f);
    return f;
  }

  /**
   * The leader answered `f` at `tick` (any answer, a refusal too): the link
   * works, so the failures before are forgiven and a forward still on its
   * way counts only from now (it is slow, not lost, as far as anyone knows).
   */
  answered(f: WatchedForward, tick: number): void {
    this.#open.delete(f);
    if (this.#failed?.leader === f.leader) this.#failed = undefined;
    this.#answered = { leader: f.leader, tick };
  }

  /** `f` got no answer: unanswered since it started, until its leader answers a forward. */
  failed(f: WatchedForward): void {
    this.#open.delete(f);
    if (
      this.#failed === undefined || this.#failed.leader !== f.leader || f.tick < this.#failed.tick
    ) {
      this.#failed = f;
    }
  }

  /**
   * The site follows another leadership (a new leader, or none): what
   * earlier forwards said is forgotten. A forward that failed while a leader
   * led before says nothing of it now — the site may have led itself in
   * between, or followed another — and would otherwise count from then, so
   * that the site refused writes the moment that leader came back. Forwards
   * still on their way count on (those to another leader are given up).
   */
  reset(): void {
    this.#failed = undefined;
    this.#answered = undefined;
  }

  /** This site gave `f` up (another leader, a stop): it counts neither way. */
  dropped(f: WatchedForward): void {
    this.#open.delete(f);
  }

  /**
   * Whether `leader` has nothing to say of the link now: no forward to it is
   * on its way and none it answered came after `tick`. A site then asks it
   * with an empty forward (see `RaftHost`), so that a cut shows when it takes
   * no writes too.
   */
  quiet(leader: string, tick: number): boolean {
    for (const f of this.#open) if (f.leader === leader) return false;
    return this.#answered?.leader !== leader || this.#answered.tick <= tick;
  }

  /**
   * The tick since which `leader` has answered none of this site's
   * forwards, while one is on its way to it or failed since it last
   * answered: the start of the oldest such forward, or the last answer when
   * that came later. Undefined when no forward to it waits or failed.
   */
  unansweredSince(leader: string): number | undefined {
    let oldest = this.#failed?.leader === leader ? this.#failed.tick : undefined;
    for (const f of this.#open) {
      if (f.leader === leader && (oldest === undefined || f.tick < oldest)) oldest = f.tick;
    }
    if (oldest === undefined) return undefined;
    const answered = this.#answered?.leader === leader ? this.#answered.tick : oldest;
    return Math.max(oldest, answered);
  }
}
