import { describe, expect, it } from 'vitest';
import { messageRoutes, resultQueuesFrom, routeTable } from '#routes/route-table.ts';

describe('Route table: slice_result over several queues', () => {
  it('is the table of one route per message type when not spread', () => {
    // Act
    const table = routeTable(1);
    // Assess
    expect(table.filter((r) => r.msgType).map((r) => r.name)).toEqual(messageRoutes.map((r) => r.name));
  });

  it('splits the ten last digits of the message id among the queues, each digit to exactly one', () => {
    // Act
    const spread = routeTable(2).filter((r) => r.msgType === 'slice_result');
    // Assess
    expect(spread.map((r) => [r.name, r.handler, r.selector])).toEqual([
      [
        'slice_result',
        'slice-result',
        "msg_type = 'slice_result' AND (JMSMessageID LIKE '%0' OR JMSMessageID LIKE '%2' OR JMSMessageID LIKE '%4' OR JMSMessageID LIKE '%6' OR JMSMessageID LIKE '%8')",
      ],
      [
        'slice_result.1',
        'slice-result',
        "msg_type = 'slice_result' AND (JMSMessageID LIKE '%1' OR JMSMessageID LIKE '%3' OR JMSMessageID LIKE '%5' OR JMSMessageID LIKE '%7' OR JMSMessageID LIKE '%9')",
      ],
    ]);
    const digits = routeTable(10)
      .filter((r) => r.msgType === 'slice_result')
      .flatMap((r) => [...r.selector.matchAll(/LIKE '%(\d)'/g)].map((m) => m[1]));
    expect(digits.sort()).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
  });

  it('reads the count from TESTBED_RESULT_QUEUES and refuses one that does not divide ten', () => {
    // Act
    const unset = resultQueuesFrom({});
    const five = resultQueuesFrom({ TESTBED_RESULT_QUEUES: '5' });
    // Assess
    expect([unset, five]).toEqual([1, 5]);
    expect(() => resultQueuesFrom({ TESTBED_RESULT_QUEUES: '3' })).toThrow(
      'TESTBED_RESULT_QUEUES must be one of 1, 2, 5, 10, not "3"',
    );
  });
});
