/** test/tls-browser.test.ts again, against the HTTP/2 lane (--h2-lane on): see helpers/h2-lane.ts. */
process.env.HASHEDGE_TEST_H2_LANE = 'on';
await import('./tls-browser.test.js');
