/**
 * lambda/shared/teams-text.ts: what the text helpers return, and a bound on their work that does not depend on the
 * machine's speed: the characters their searches pass over (`TextWork`) stay within a small multiple of the input's
 * length for inputs built to make backtracking expressions quadratic, at 8 KB and at 8 × 8 KB alike.
 */
import { plainText, stripMentions, trimEndChars, type TextWork } from '../../lambda/shared/teams-text';

describe('plainText', () => {
  test.each([
    ['<at>Bot</at> what&#39;s <b>my</b> name?<br>thanks &amp; bye\u0007', 'what\'s my name? thanks & bye'],
    ['<p>one</p><p>two</p>', 'one two'],
    ['<div>a</div><div>b</div>', 'a b'],
    ['a<br/>b<BR>c', 'a b c'],
    ['<AT>Bot</AT>hello', 'hello'],
    ['<at id="0">Bot</at> and <at id="1">Ada Lovelace</at>: hi', 'and : hi'],
    ['<atom>x</atom>', 'x'],
    ['<at>no close', 'no close'],
    ['2 < 3 and 5 > 4', '2 4'],
    ['a < b', 'a < b'],
    ['&lt;b&gt;not a tag&lt;/b&gt;', '<b>not a tag</b>'],
    ['&#x1F600; &#128512; &nbsp;x&unknown;', '😀 😀 x&unknown;'],
    ['a\u200bb\u202ec', 'a b c'],
    ['İstanbul <B>Straße</B>', 'İstanbul Straße'],
    ['', ''],
  ])('%j → %j', (input, expected) => {
    expect(plainText(input)).toBe(expected);
  });

  test('undefined is empty', () => {
    expect(plainText(undefined)).toBe('');
  });
});

describe('stripMentions', () => {
  test.each([
    ['<at>Bot</at> sign out', '  sign out'],
    ['sign <at id="1">Bot</at>out', 'sign  out'],
    ['<atom>x</atom>', '<atom>x</atom>'],
    ['<b>bold</b>', '<b>bold</b>'],
    ['<at>Bot without close', '<at>Bot without close'],
    ['<at>A</at><at>B</at>', '  '],
    ['<at <at>x</at>', ' '],
  ])('%j → %j', (input, expected) => {
    expect(stripMentions(input)).toBe(expected);
  });
});

test('trimEndChars', () => {
  expect(trimEndChars('sign out...!!', '.!')).toBe('sign out');
  expect(trimEndChars('...', '.!')).toBe('');
  expect(trimEndChars('a.b', '.!')).toBe('a.b');
});

/** Inputs that made the replaced regular expressions quadratic (each is repeated to the wanted length). */
const ADVERSARIAL: Record<string, (n: number) => string> = {
  'many <at': (n) => '<at'.repeat(n / 3),
  'many <': (n) => '<'.repeat(n),
  'many <at> without </at>': (n) => '<at>'.repeat(n / 4),
  'many <br without >': (n) => '<br'.repeat(n / 3),
  'many <atom with one > at the end': (n) => `${'<atom'.repeat(n / 5)}>`,
  'many < then one > at the end': (n) => `${'<'.repeat(n - 1)}>`,
  'mention opened, closed late': (n) => `${'<at>x'.repeat(n / 5 - 1)}</at>`,
  'alternating text and <': (n) => 'a<'.repeat(n / 2),
  'many </at': (n) => '</at'.repeat(n / 4),
};

describe('work is linear in the input length', () => {
  const SIZE = 8 * 1024;
  test.each(Object.keys(ADVERSARIAL))('%s', (name) => {
    for (const n of [SIZE, 8 * SIZE]) {
      const input = ADVERSARIAL[name](n);
      const plain: TextWork = { chars: 0 };
      plainText(input, plain);
      const mentions: TextWork = { chars: 0 };
      stripMentions(input, mentions);
      // Each search starts where the previous one ended and a failed search is never repeated: at most a few passes.
      expect(plain.chars).toBeLessThanOrEqual(4 * input.length + 16);
      expect(mentions.chars).toBeLessThanOrEqual(4 * input.length + 16);
    }
  });

  test('64 KB of <at and 65,000 < are read in one pass each, with the same results as before', () => {
    const ats = '<at'.repeat(64 * 1024 / 3);
    const work: TextWork = { chars: 0 };
    expect(plainText(ats, work)).toBe(ats);
    expect(work.chars).toBeLessThanOrEqual(2 * ats.length);
    const lts = '<'.repeat(65_000);
    const work2: TextWork = { chars: 0 };
    expect(plainText(lts, work2)).toBe(lts);
    expect(work2.chars).toBeLessThanOrEqual(2 * lts.length);
  });
});
