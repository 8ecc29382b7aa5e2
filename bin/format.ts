/** A canonical timestamp's time of day, to the millisecond (UTC), as the CLI's tables and trees print it. */
export const hhmmss = (t: string | undefined) => (t ? t.slice(11, 23) : '?');
