import {
  destinations,
  runSliceQueuePrefix,
  runSlicesDeadLetterQueue,
  splitDestination,
} from './destinations.ts';
import { deadLetterQueue, handlerQueue, type Route, routes } from './route-table.ts';

/** What only the local broker gets: Amazon MQ manages users and connectors itself and refuses these elements. */
export interface LocalBrokerOptions {
  readonly dataDirectory: string;
  readonly stompPort: number;
  /** The IPv4 address STOMP listens on; beyond loopback only behind the authentication below. @default '127.0.0.1' */
  readonly stompHost?: string;
  readonly user: string;
  readonly password: string;
}

const xmlEscape = (s: string): string =>
  s.replace(
    /[<>&'"]/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c] as string,
  );

/** Escapes an attribute value in double quotes; a selector's single quotes stay readable. */
const attribute = (s: string): string =>
  s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c] as string);

function forwardingTopics(table: readonly Route[]): string {
  const byTopic = new Map<string, Route[]>();
  for (const r of table) {
    for (const from of r.from) {
      const topic = splitDestination(from).name;
      byTopic.set(topic, [...(byTopic.get(topic) ?? []), r]);
    }
  }
  return [...byTopic]
    .map(([topic, rs]) => {
      const forwards = rs
        .map((r) => `<filteredDestination selector="${attribute(r.selector)}" queue="${handlerQueue(r)}"/>`)
        .join('\n              ');
      // forwardOnly=false: transformers and monitors still subscribe to the topic itself.
      return `
          <compositeTopic name="${topic}" forwardOnly="false">
            <forwardTo>
              ${forwards}
            </forwardTo>
          </compositeTopic>`;
    })
    .join('');
}

/**
 * The `<broker>` body both brokers share: forwarding, dead-letter policy, pre-created queues.
 * Only elements on Amazon MQ's permitted list appear here, so the same text is the Amazon MQ configuration.
 */
export function sharedBrokerElements(table: readonly Route[] = routes): string {
  const queues = table.flatMap((r) => [handlerQueue(r), deadLetterQueue(r)]);
  const slices = splitDestination(destinations.slices).name;
  return `
    <destinationInterceptors>
      <virtualDestinationInterceptor>
        <virtualDestinations>${forwardingTopics(table)}
        </virtualDestinations>
      </virtualDestinationInterceptor>
    </destinationInterceptors>
    <destinationPolicy>
      <policyMap>
        <policyEntries>
          <!-- optimizedDispatch: an ack dispatches the next message in the acking thread, not after a
               hand-off to the queue's task thread (half the broker's context switches per slice). -->
          <policyEntry queue="&gt;" producerFlowControl="false" optimizedDispatch="true">
            <deadLetterStrategy>
              <individualDeadLetterStrategy queuePrefix="DLQ." useQueueForQueueMessages="true" processExpired="false"/>
            </deadLetterStrategy>
          </policyEntry>
          <!-- The shared slice queue: selectors only see the first maxPageSize messages of a queue, and one
               run's slices must not hide another's (the default 200 let 1,000 queued slices starve a second
               run). Only here: on a 1 GiB broker, pages of 5,000 on every queue would press memory. -->
          <policyEntry queue="${slices}" producerFlowControl="false" maxPageSize="5000" optimizedDispatch="true">
            <deadLetterStrategy>
              <individualDeadLetterStrategy queuePrefix="DLQ." useQueueForQueueMessages="true" processExpired="false"/>
            </deadLetterStrategy>
          </policyEntry>
          <!-- Each run's own slice queue: no selector, so the default page; one dead-letter queue for all of
               them; removed once a run has left it empty and unread for ten minutes (the same two attributes,
               with the broker's schedulePeriodForDestinationPurge, are in the configuration Amazon MQ itself
               creates by default, so Amazon MQ permits them). -->
          <policyEntry queue="${runSliceQueuePrefix}.&gt;" producerFlowControl="false" optimizedDispatch="true" gcInactiveDestinations="true" inactiveTimoutBeforeGC="600000">
            <deadLetterStrategy>
              <sharedDeadLetterStrategy processExpired="false">
                <deadLetterQueue><queue physicalName="${runSlicesDeadLetterQueue}"/></deadLetterQueue>
              </sharedDeadLetterStrategy>
            </deadLetterStrategy>
          </policyEntry>
          <policyEntry topic="&gt;" producerFlowControl="false"/>
        </policyEntries>
      </policyMap>
    </destinationPolicy>
    <destinations>
      ${[...queues, slices, runSlicesDeadLetterQueue].map((q) => `<queue physicalName="${q}"/>`).join('\n      ')}
    </destinations>`;
}

/** The Amazon MQ configuration: a bare `<broker>` element, as the service expects. */
export function amazonMqConfiguration(table: readonly Route[] = routes): string {
  return `<broker xmlns="http://activemq.apache.org/schema/core" schedulePeriodForDestinationPurge="10000">${sharedBrokerElements(table)}
</broker>
`;
}

/**
 * A complete Spring file for `activemq.jar start xbean:file:...`. No redelivery plugin and no job scheduler:
 * together they deadlocked Debian's 5.17 under a burst of failing batches (AMQ-9448 family), and Amazon MQ
 * has neither. The local runner retries failed batches itself, as Lambda's poller does (local/runner.ts);
 * without the plugin a STOMP NACK parks the message in `DLQ.<queue>` at once.
 */
export function localBrokerConfiguration(o: LocalBrokerOptions, table: readonly Route[] = routes): string {
  return `<beans xmlns="http://www.springframework.org/schema/beans"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  xsi:schemaLocation="http://www.springframework.org/schema/beans http://www.springframework.org/schema/beans/spring-beans.xsd
  http://activemq.apache.org/schema/core http://activemq.apache.org/schema/core/activemq-core.xsd">
  <broker xmlns="http://activemq.apache.org/schema/core" brokerName="testbed" useJmx="false"
          dataDirectory="${xmlEscape(o.dataDirectory)}" schedulePeriodForDestinationPurge="10000">${sharedBrokerElements(table)}
    <persistenceAdapter>
      <!-- Periodic journal sync: a broker crash loses nothing (the OS holds the writes), a machine crash
           up to a second; a sync per persistent message would cap a local run at a few thousand per s.
           Queue messages are stored in the sending thread: with periodic sync that costs no wait, and the
           receipt skips a hand-off to the store's thread pool (fewer context switches per message). -->
      <kahaDB directory="${xmlEscape(o.dataDirectory)}/kahadb" journalDiskSyncStrategy="periodic" journalDiskSyncInterval="1000" concurrentStoreAndDispatchQueues="false"/>
    </persistenceAdapter>
    <plugins>
      <simpleAuthenticationPlugin anonymousAccessAllowed="false">
        <users>
          <authenticationUser username="${xmlEscape(o.user)}" password="${xmlEscape(o.password)}" groups="admins"/>
        </users>
      </simpleAuthenticationPlugin>
    </plugins>
    <systemUsage>
      <systemUsage>
        <memoryUsage><memoryUsage percentOfJvmHeap="70"/></memoryUsage>
        <storeUsage><storeUsage limit="8 gb"/></storeUsage>
        <tempUsage><tempUsage limit="2 gb"/></tempUsage>
      </systemUsage>
    </systemUsage>
    <transportConnectors>
      <transportConnector name="stomp" uri="stomp://${xmlEscape(o.stompHost ?? '127.0.0.1')}:${o.stompPort}?transport.tcpNoDelay=true&amp;transport.socketBufferSize=1048576&amp;maximumConnections=1000&amp;wireFormat.maxFrameSize=16777216"/>
    </transportConnectors>
  </broker>
</beans>
`;
}
