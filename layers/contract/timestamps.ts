// ISO 8601 with 0–6 fractional digits and an optional offset; a space separator is what Python's
// str(datetime) writes, and no offset means UTC (datetime.utcnow() is naive).
const ISO = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(Z|[+-]\d{2}:?\d{2})?$/;
// Python's "%a, %d %b %Y %H:%M:%S UTC".
const HTTP = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d{2}) ([A-Z][a-z]{2}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) UTC$/;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const FIRST_SECOND = -62_167_219_200; // 0000-01-01T00:00:00Z
const LAST_SECOND = 253_402_300_799; // 9999-12-31T23:59:59Z

interface Fields {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  micros: number;
  offsetMinutes: number;
}

function fieldsOf(s: string): (Fields & { weekday?: string }) | undefined {
  const iso = ISO.exec(s);
  if (iso) {
    const [, y, mo, d, h, mi, sec, frac = '', offset = 'Z'] = iso;
    let offsetMinutes = 0;
    if (offset !== 'Z') {
      const digits = offset.slice(1).replace(':', '');
      const oh = Number(digits.slice(0, 2));
      const om = Number(digits.slice(2));
      if (oh > 23 || om > 59) return undefined;
      offsetMinutes = (offset.startsWith('-') ? -1 : 1) * (oh * 60 + om);
    }
    return {
      year: Number(y),
      month: Number(mo),
      day: Number(d),
      hour: Number(h),
      minute: Number(mi),
      second: Number(sec),
      micros: Number(frac.padEnd(6, '0')),
      offsetMinutes,
    };
  }
  const http = HTTP.exec(s);
  if (http) {
    const [, weekday, d, mon, y, h, mi, sec] = http;
    const month = MONTHS.indexOf(mon ?? '') + 1;
    if (month === 0) return undefined;
    return {
      year: Number(y),
      month,
      day: Number(d),
      hour: Number(h),
      minute: Number(mi),
      second: Number(sec),
      micros: 0,
      offsetMinutes: 0,
      weekday,
    };
  }
  return undefined;
}

/** Whole seconds since the epoch (UTC) and the microseconds within that second. */
function epochOf(s: string): { seconds: number; micros: number } {
  const f = fieldsOf(s);
  const bad = (why: string) => new Error(`invalid timestamp ${JSON.stringify(s)}: ${why}`);
  if (!f) throw bad('expected ISO 8601 or "Mon, 20 Jul 2026 14:03:30 UTC"');
  const date = new Date(0);
  date.setUTCFullYear(f.year, f.month - 1, f.day);
  const valid =
    date.getUTCFullYear() === f.year &&
    date.getUTCMonth() === f.month - 1 &&
    date.getUTCDate() === f.day &&
    f.hour <= 23 &&
    f.minute <= 59 &&
    f.second <= 59;
  if (!valid) throw bad('no such date or time');
  if (f.weekday !== undefined && WEEKDAYS[date.getUTCDay()] !== f.weekday) {
    throw bad(`that date is not a ${f.weekday}`);
  }
  const seconds = date.getTime() / 1000 + f.hour * 3600 + f.minute * 60 + f.second - f.offsetMinutes * 60;
  if (seconds < FIRST_SECOND || seconds > LAST_SECOND) throw bad('outside years 0000-9999 once in UTC');
  return { seconds, micros: f.micros };
}

function format(seconds: number, micros: number): string {
  const whole = new Date(seconds * 1000).toISOString().slice(0, -5);
  if (!/^\d{4}-/.test(whole)) throw new RangeError(`${whole} is outside years 0000-9999`);
  return `${whole}.${String(micros).padStart(6, '0')}Z`;
}

/** Any upstream timestamp style -> canonical `YYYY-MM-DDTHH:MM:SS.ffffffZ` (UTC, microseconds kept). */
export function parseTimestamp(s: string): string {
  const { seconds, micros } = epochOf(s);
  return format(seconds, micros);
}

export function toEpochMicros(canonical: string): number {
  const { seconds, micros } = epochOf(canonical);
  const n = seconds * 1_000_000 + micros;
  if (!Number.isSafeInteger(n)) throw new RangeError(`${canonical} is out of range for epoch microseconds`);
  return n;
}

export function fromEpochMicros(n: number): string {
  if (!Number.isSafeInteger(n)) throw new RangeError(`epoch microseconds must be a safe integer, got ${n}`);
  const seconds = Math.floor(n / 1_000_000);
  return format(seconds, n - seconds * 1_000_000);
}

export function nowTimestamp(): string {
  return fromEpochMicros(Math.round((performance.timeOrigin + performance.now()) * 1000));
}
