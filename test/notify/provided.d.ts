// What the global setup hands the tests (see receiver.global.ts).
declare module "vitest" {
  export interface ProvidedContext {
    /** Base URL of the loopback callback receiver. */
    receiverUrl: string;
  }
}
export {};
