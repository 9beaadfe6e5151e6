import { replyText } from '../../lambda/worker';

describe('default worker reply text', () => {
  test('display name and the quoted question', () => {
    expect(replyText('Ada Lovelace', 'what is my name?', false))
      .toBe('Hi Ada Lovelace! I read your Microsoft Graph profile as you, so delegated access works.\nYou asked: “what is my name?”');
  });
  test('Teams HTML and mentions are reduced to plain text; long text is cut', () => {
    const text = replyText('Ada', '<at>Bot</at> <p>hello <b>there</b></p>', false);
    expect(text.endsWith('You asked: “hello there”')).toBe(true);
    const long = replyText('Ada', 'x'.repeat(1000), false);
    expect(long).toContain(`“${'x'.repeat(200)}…”`);
    expect(long.length).toBeLessThan(400);
  });
  test('no text / attachments only / no display name', () => {
    expect(replyText('Ada', '', true)).toContain('You sent an attachment without text.');
    expect(replyText('Ada', undefined, false)).toContain('Your message had no text.');
    expect(replyText(undefined, 'hi', false).startsWith('Hi there!')).toBe(true);
    expect(replyText('   ', 'hi', false).startsWith('Hi there!')).toBe(true);
  });
  test('an absurdly long display name is cut', () => {
    expect(replyText('N'.repeat(500), 'hi', false)).toContain(`Hi ${'N'.repeat(100)}!`);
  });
});
