/**
 * Real certificates for unit tests, made once by `openssl req -x509`
 * (self-signed, P-256): a CA certificate Deno loads as a trust anchor (its
 * dates do not matter for that; its key was not kept), and a server
 * certificate with its key, valid for 100 years from 2026-12-07, for tests
 * that read a certificate and check its key belongs to it.
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

/** A server certificate (CN "edgeledger test", IP 127.0.0.1), valid until 2126. */
export const SERVER_CERT_PEM = "" +
  "-----BEGIN CERTIFICATE-----\n" +
  "MIIBnDCCAUKgAwIBAgIUdp7usqo16AJSYf0PblGScRlujRkwCgYIKoZIzj0EAwIw\n" +
  "GjEYMBYGA1UEAwwPZWRnZWxlZGdlciB0ZXN0MCAXDTI2MTIwNzA3NDEzN1oYDzIx\n" +
  "MjYxMTEzMDc0MTM3WjAaMRgwFgYDVQQDDA9lZGdlbGVkZ2VyIHRlc3QwWTATBgcq\n" +
  "hkjOPQIBBggqhkjOPQMBBwNCAAQcsXyKkItptX/tpXvN0nYpG0LHO3gjU91mui30\n" +
  "XLVlG6ShBnVvH6HUte0grWXq+i/0tGCdvanh0BE9S1YuhVq2o2QwYjAdBgNVHQ4E\n" +
  "FgQUvGP+JkzEvqckitUa5itu3btTSIIwHwYDVR0jBBgwFoAUvGP+JkzEvqckitUa\n" +
  "5itu3btTSIIwDwYDVR0TAQH/BAUwAwEB/zAPBgNVHREECDAGhwR/AAABMAoGCCqG\n" +
  "SM49BAMCA0gAMEUCIF66cf+gHTV6otBqVi3TcnPuS6w6y1an4uPgDsEzaWQQAiEA\n" +
  "tFiS7/wwMdLEcibVIIKgWyvZWoewEanjWOmJlzzy9io=\n" +
  "-----END CERTIFICATE-----\n";

/** The PKCS#8 private key of {@link SERVER_CERT_PEM}. */
export const SERVER_KEY_PEM = "" +
  "-----BEGIN PRIVATE KEY-----\n" +
  "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgbDPmUcYLKXa9ZpNX\n" +
  "Bu0yFW/AClXtUJU3xQaW2xYz/VehRANCAAQcsXyKkItptX/tpXvN0nYpG0LHO3gj\n" +
  "U91mui30XLVlG6ShBnVvH6HUte0grWXq+i/0tGCdvanh0BE9S1YuhVq2\n" +
  "-----END PRIVATE KEY-----\n";
