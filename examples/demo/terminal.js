/**
 * What the demo prints, fitted to the terminal: lines wrapped at its width (a line that fills the
 * last column makes terminals cut or repeat it), and, on a terminal, one live progress line per user
 * kept below the log.
 *
 * The live lines are redrawn in place: the cursor goes back up over the lines drawn last time
 * (each one shorter than the width, so each is exactly one row) and everything below is rewritten.
 * Progress bar libraries that redraw by counting rows lose count as soon as a log line wraps, and
 * their bars then vanish or repeat; here no row is ever wider than the terminal.
 */

/**
 * Columns a line may use: one less than the terminal's, so that no line fills the last column;
 * no limit off a terminal (a pipe or a file keeps each line whole).
 */
export function widthOf(stream) {
  return stream.isTTY ? Math.max(40, (stream.columns || 80) - 1) : Infinity;
}

/**
 * `text` in lines of at most `width` characters, broken between words; lines after the first are
 * indented by `indent` spaces (a word longer than a line is cut, never left to overflow).
 */
export function wrap(text, width, indent = 0) {
  const lines = [];
  let line = '';
  const room = () => width - (lines.length === 0 ? 0 : indent);
  for (let word of text.split(' ')) {
    while (word.length > room()) {
      if (line) {
        lines.push(line);
        line = '';
      }
      lines.push(word.slice(0, room()));
      word = word.slice(room());
    }
    if (line && line.length + 1 + word.length > room()) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line || lines.length === 0) lines.push(line);
  return lines.map((l, i) => (i === 0 ? l : ' '.repeat(indent) + l));
}

/** `text` cut to `width` characters, with an ellipsis when something was cut. */
export function fit(text, width) {
  return text.length <= width ? text : text.slice(0, width - 1) + '…';
}

/**
 * Live progress lines under a log, on a TTY stream; on anything else, the log lines only.
 * @param {NodeJS.WriteStream} stream
 */
export function liveLines(stream) {
  const tty = Boolean(stream.isTTY);
  /** @type {Array<() => string>} */
  const lines = [];
  let drawn = 0;
  let stopped = false;

  function draw(logged = []) {
    const width = widthOf(stream);
    // Back to the first live line (column 0), then clear everything below it.
    let out = drawn > 0 ? `\x1b[${drawn}F\x1b[J` : '';
    for (const line of logged) out += line + '\n';
    const live = stopped && !tty ? [] : lines.map((line) => fit(line(), width));
    for (const line of live) out += line + '\n';
    drawn = live.length;
    if (out) stream.write(out);
  }

  return {
    /** Adds a live line; `render` is called at every redraw. No-op off a terminal. */
    add(render) {
      if (!tty) return;
      lines.push(render);
      draw();
    },
    /** Redraws the live lines (after what they show changed). */
    update() {
      if (tty && !stopped) draw();
    },
    /**
     * Prints a log line above the live lines, wrapped at the terminal's width with later lines
     * indented by `indent`.
     */
    log(text, indent = 0) {
      const logged = wrap(text, widthOf(stream), indent);
      if (tty && !stopped) draw(logged);
      else stream.write(logged.join('\n') + '\n');
    },
    /** Draws the live lines a last time and leaves them in place. */
    stop() {
      if (!tty || stopped) return;
      draw();
      stopped = true;
    },
  };
}
