import { queryAll } from '#tables/pages.ts';
import type { Item } from './bounds.ts';
import { docOf, type MonitorContext, nowMs } from './context.ts';
import { messageDigest } from './messages.ts';
import { heartbeatInterval, pilotState } from './pilots.ts';
import { readRunItem } from './runs.ts';

/** OK: live; ERROR: lost; EXITED: ended; UNKNOWN: requested, or a sender without heartbeats. */
export type AgentStatus = 'OK' | 'ERROR' | 'EXITED' | 'UNKNOWN';

export interface AgentRow {
  readonly name: string;
  /** transformer for pilots, else the sender name's first part (daq_simulator, transceiver, ...). */
  readonly agent_type: string;
  readonly status: AgentStatus;
  readonly last_seen?: string;
  readonly messages: number;
  readonly msg_types: string[];
}

const pilotStatus: Record<string, AgentStatus> = { running: 'OK', lost: 'ERROR', ended: 'EXITED' };

/** The agents of a run: its pilots (transformers, judged by heartbeat) and every sender of its messages. */
export async function listAgents(c: MonitorContext, runId: string): Promise<AgentRow[]> {
  const run = await readRunItem(c, runId);
  const [digest, pilots] = await Promise.all([
    messageDigest(c, runId),
    queryAll(
      docOf(c),
      {
        TableName: c.tableNames.pilots,
        KeyConditionExpression: 'run_id = :run',
        ExpressionAttributeValues: { ':run': runId },
      },
      1000,
    ),
  ]);
  const interval = heartbeatInterval(run);
  const now = nowMs(c);
  const agents = new Map<string, AgentRow>();
  for (const p of pilots.items as Item[]) {
    const id = String(p.pilot_id);
    const lastSeen = (p.last_heartbeat_at ?? p.started_at) as string | undefined;
    agents.set(id, {
      name: id,
      agent_type: 'transformer',
      status: pilotStatus[pilotState(p, interval, now).state] ?? 'UNKNOWN',
      ...(lastSeen !== undefined && { last_seen: lastSeen }),
      messages: 0,
      msg_types: [],
    });
  }
  for (const [name, s] of digest.senders) {
    const known = agents.get(name);
    agents.set(name, {
      name,
      agent_type: known?.agent_type ?? name.split('-')[0] ?? name,
      status: known?.status ?? 'UNKNOWN',
      last_seen: known?.last_seen && known.last_seen > s.last_seen ? known.last_seen : s.last_seen,
      messages: s.messages,
      msg_types: [...s.types].sort(),
    });
  }
  return [...agents.values()].sort((a, b) => a.name.localeCompare(b.name));
}
