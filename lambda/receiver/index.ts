// Receiver handler: replaced by the implementation of issue 3.
export async function handler(): Promise<{ statusCode: number; body: string }> {
  return { statusCode: 501, body: 'not implemented' };
}
