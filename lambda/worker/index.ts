// Default worker: replaced by the implementation of issue 4.
export async function handler(): Promise<void> {
  throw new Error('not implemented');
}
