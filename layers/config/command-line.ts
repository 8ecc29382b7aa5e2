/**
 * A configured command line (`prompt_processing.payload_command`) as the words of a program and its
 * arguments, split as a POSIX shell splits words but with nothing else of a shell: no variables, globs,
 * pipes or redirections. Whitespace separates words; '…' keeps its text as is; "…" keeps it too but for
 * \" \\ \$ \` (a backslash before anything else stays); a backslash outside quotes keeps the next
 * character. The workflow loader checks the line with it, the transformer runs what it gives.
 */
export function commandWords(line: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  let i = 0;
  const fail = (why: string): never => {
    throw new Error(`${why} in command ${JSON.stringify(line)}`);
  };
  while (i < line.length) {
    const ch = line[i] as string;
    if (/\s/.test(ch)) {
      if (word !== undefined) words.push(word);
      word = undefined;
      i++;
    } else if (ch === "'") {
      const close = line.indexOf("'", i + 1);
      if (close < 0) fail('unterminated single quote');
      word = (word ?? '') + line.slice(i + 1, close);
      i = close + 1;
    } else if (ch === '"') {
      word ??= '';
      i++;
      for (;;) {
        if (i >= line.length) fail('unterminated double quote');
        const c = line[i] as string;
        if (c === '"') break;
        if (c === '\\' && i + 1 < line.length && '"\\$`'.includes(line[i + 1] as string)) {
          word += line[i + 1];
          i += 2;
        } else {
          word += c;
          i++;
        }
      }
      i++;
    } else if (ch === '\\') {
      if (i + 1 >= line.length) fail('trailing backslash');
      word = (word ?? '') + line[i + 1];
      i += 2;
    } else {
      word = (word ?? '') + ch;
      i++;
    }
  }
  if (word !== undefined) words.push(word);
  return words;
}
