// What the global setup hands the tests (see jwks-host.global.ts).
declare module "vitest" {
  export interface ProvidedContext {
    /** Base URL of the loopback JWKS host. */
    jwksHostUrl: string;
  }
}
export {};
