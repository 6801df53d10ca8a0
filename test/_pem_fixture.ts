/**
 * A real CA certificate (self-signed, P-256, made once by `openssl req
 * -x509`) for unit tests that need one Deno loads as a trust anchor (the
 * certificate's dates do not matter for that). Its key was not kept.
 *
 * @module
 */

/** One PEM certificate. */
export const CA_CERT_PEM = "-----BEGIN CERTIFICATE-----\n" +
  "MIIBeTCCAR+gAwIBAgIUHHXORdsnEGVa+10W3zkIylQjDQQwCgYIKoZIzj0EAwIw\n" +
  "EjEQMA4GA1UEAwwHZml4dHVyZTAeFw0yNjEyMDMwOTI3MjNaFw0yNjEyMDQwOTI3\n" +
  "MjNaMBIxEDAOBgNVBAMMB2ZpeHR1cmUwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNC\n" +
  "AATsZ+cQYO9J1MRAr/YyyYWi6CxrHREWp19rzPqMK+/7lCdk1Uqax4T5fSdBbvaQ\n" +
  "Ec8oNmE4bynHMgCB+MMSPnOco1MwUTAdBgNVHQ4EFgQUlVwFxXzWCbueMolNMCYD\n" +
  "/SrbhVMwHwYDVR0jBBgwFoAUlVwFxXzWCbueMolNMCYD/SrbhVMwDwYDVR0TAQH/\n" +
  "BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiA5ffylwxlu/B9+xgZfxpF4VVG9T3tF\n" +
  "8MDzu6oowXY7xwIhAKwqESACeyCSjV2BFqBUiowO7geiPDCbXezViSrqDQV8\n" +
  "-----END CERTIFICATE-----\n";
