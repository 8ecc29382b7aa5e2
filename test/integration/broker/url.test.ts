import { describe, expect, it } from 'vitest';
import { parseBrokerUrl } from '#broker/broker-url.ts';

describe('Broker URL', () => {
  it('reads a plain STOMP endpoint', () => {
    // Act
    const endpoints = parseBrokerUrl('stomp://127.0.0.1:61613');
    // Assess
    expect(endpoints).toEqual([{ host: '127.0.0.1', port: 61613, tls: false }]);
  });

  it('reads a TLS endpoint as Amazon MQ gives it, defaulting to port 61614', () => {
    // Act
    const explicit = parseBrokerUrl('stomp+ssl://b-1234-1.mq.eu-west-1.amazonaws.com:61614');
    const implicit = parseBrokerUrl('stomp+ssl://b-1234-1.mq.eu-west-1.amazonaws.com');
    // Assess
    expect(explicit).toEqual([{ host: 'b-1234-1.mq.eu-west-1.amazonaws.com', port: 61614, tls: true }]);
    expect(implicit).toEqual(explicit);
  });

  it('lists the endpoints of a failover URL in order, ignoring its options', () => {
    // Act
    const endpoints = parseBrokerUrl(
      'failover:(stomp+ssl://b-1.mq.aws:61614, stomp+ssl://b-2.mq.aws:61614)?randomize=false',
    );
    // Assess
    expect(endpoints).toEqual([
      { host: 'b-1.mq.aws', port: 61614, tls: true },
      { host: 'b-2.mq.aws', port: 61614, tls: true },
    ]);
  });

  it('reads an IPv6 host', () => {
    // Act
    const endpoints = parseBrokerUrl('stomp://[::1]:61613');
    // Assess
    expect(endpoints).toEqual([{ host: '::1', port: 61613, tls: false }]);
  });

  it.each([
    ['ssl://b-1.mq.aws:61617', /unsupported broker URL scheme "ssl"/],
    ['localhost:61613', /unsupported broker URL scheme "localhost"/],
    ['failover:()', /names no endpoint/],
    ['not a url', /not a broker URL/],
  ])('refuses %s with a sentence saying why', (url, reason) => {
    // Act
    const parse = () => parseBrokerUrl(url);
    // Assess
    expect(parse).toThrow(reason);
  });

  it('refuses credentials in the URL without repeating them', () => {
    // Act
    let message = '';
    try {
      parseBrokerUrl('stomp://admin:s3cret-pass@127.0.0.1:61613');
    } catch (error) {
      message = (error as Error).message;
    }
    // Assess
    expect(message).toMatch(/carries credentials/);
    expect(message).not.toContain('s3cret-pass');
  });
});
