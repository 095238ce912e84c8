import { sql } from '../db/db.ts';

/** One template as the sync stores it (an element of TEMPLATES_REPLACE's $2). */
export interface TemplateRecord {
  metaId: string | null;
  name: string;
  language: string;
  category: string | null;
  status: string;
  quality: string | null;
  parameterFormat: string;
  components: unknown[];
}

/** A stored template as the API lists it. */
export interface TemplateRow {
  id: string;
  channelId: string;
  tenantId: string;
  name: string;
  language: string;
  category: string | null;
  status: string;
  quality: string | null;
  parameterFormat: string;
  components: unknown[];
  syncedAt: string;
}

const COLUMNS = `t.id::text AS id, t.channel_id::text AS "channelId", t.tenant_id::text AS "tenantId", t.name, t.language, t.category,
  t.status, t.quality, t.parameter_format AS "parameterFormat", t.components, t.synced_at AS "syncedAt"`;

/**
 * A sync's result for one channel: the templates Meta listed replace the
 * stored ones (upserted by name and language; the ones Meta no longer lists
 * are removed). A channel removed meanwhile stores nothing.
 * $1 channel, $2 jsonb array of TemplateRecord.
 */
export const TEMPLATES_REPLACE = sql(
  'templates_replace',
  `WITH ch AS (SELECT id, tenant_id FROM channels WHERE id = $1 AND removed_at IS NULL),
   inp AS (
     SELECT DISTINCT ON (name, language) * FROM jsonb_to_recordset($2::jsonb) AS i(
       "metaId" text, name text, language text, category text, status text, quality text, "parameterFormat" text, components jsonb)
     ORDER BY name, language
   ),
   up AS (
     INSERT INTO templates AS t (tenant_id, channel_id, meta_id, name, language, category, status, quality, parameter_format, components, synced_at)
     SELECT ch.tenant_id, ch.id, inp."metaId", inp.name, inp.language, inp.category, inp.status, inp.quality,
            coalesce(inp."parameterFormat", 'POSITIONAL'), coalesce(inp.components, '[]'::jsonb), now()
     FROM inp CROSS JOIN ch
     ON CONFLICT (channel_id, name, language) DO UPDATE SET
       meta_id = excluded.meta_id, category = excluded.category, status = excluded.status, quality = excluded.quality,
       parameter_format = excluded.parameter_format, components = excluded.components, synced_at = now()
     RETURNING 1
   ),
   del AS (
     DELETE FROM templates t USING ch
     WHERE t.channel_id = ch.id AND NOT EXISTS (SELECT 1 FROM inp WHERE inp.name = t.name AND inp.language = t.language)
     RETURNING 1
   )
   SELECT EXISTS (SELECT 1 FROM ch) AS found, (SELECT count(*) FROM up)::int AS synced, (SELECT count(*) FROM del)::int AS removed`,
);

/**
 * Applies template webhooks ($1 jsonb array of TemplateEvent): the status,
 * quality or category they carry, to the templates of every live channel of
 * that WhatsApp Business Account (by Meta's id, else by name and language).
 * Returns those channels, whose templates are then synced again. $2: the
 * channel whose own webhook URL brought them (its tenant's app signed them),
 * which limits them to that tenant's channels; null for the gateway's app.
 */
export const TEMPLATE_EVENTS = sql(
  'templates_apply_events',
  `WITH ev AS (
     SELECT * FROM jsonb_to_recordset($1::jsonb) AS e("wabaId" text, "templateId" text, name text, language text, status text, quality text, category text)
   ),
   up AS (
     UPDATE templates t SET
       status = coalesce(ev.status, t.status), quality = coalesce(ev.quality, t.quality), category = coalesce(ev.category, t.category)
     FROM ev, channels c
     WHERE c.id = t.channel_id AND c.waba_id = ev."wabaId" AND c.removed_at IS NULL
       AND ($2::bigint IS NULL OR c.tenant_id = (SELECT tenant_id FROM channels WHERE id = $2::bigint))
       AND (t.meta_id = ev."templateId" OR (t.name = ev.name AND t.language = ev.language))
     RETURNING t.id
   )
   SELECT c.id::text AS "channelId", (SELECT count(*) FROM up)::int AS updated
   FROM channels c WHERE c.waba_id IN (SELECT "wabaId" FROM ev) AND c.removed_at IS NULL
     AND ($2::bigint IS NULL OR c.tenant_id = (SELECT tenant_id FROM channels WHERE id = $2::bigint))`,
);

/** The channels a sync covers: $1 tenant (null: all, for the admin), $2 one channel (null: all). */
export const SYNC_CHANNELS = sql(
  'templates_sync_channels',
  `SELECT id::text AS id, tenant_id::text AS "tenantId", waba_id AS "wabaId" FROM channels
   WHERE removed_at IS NULL AND ($1::bigint IS NULL OR tenant_id = $1::bigint) AND ($2::bigint IS NULL OR id = $2::bigint)
   ORDER BY id`,
);

/**
 * Stored templates: $1 tenant (null: all), $2 channel (null: all), $3 status
 * (null: any), $4 name (null: any), $5 after this id, $6 at most.
 */
export const TEMPLATES_LIST = sql(
  'templates_list',
  `SELECT ${COLUMNS} FROM templates t
   WHERE ($1::bigint IS NULL OR t.tenant_id = $1::bigint) AND ($2::bigint IS NULL OR t.channel_id = $2::bigint)
     AND ($3::text IS NULL OR t.status = $3::text) AND ($4::text IS NULL OR t.name = $4::text)
     AND ($5::bigint IS NULL OR t.id > $5::bigint)
   ORDER BY t.id LIMIT $6`,
);

/**
 * What a template send needs, in one read: the conversation (of the tenant,
 * $2 null for the admin), its channel, whether the customer wrote in the
 * last 24 hours, and the channel's template of that name and language ($3,
 * $4; null when there is none).
 */
export const TEMPLATE_FOR_SEND = sql(
  'templates_for_send',
  `SELECT v.id::text AS "conversationId", v.tenant_id::text AS "tenantId", v.channel_id::text AS "channelId",
          coalesce(k.last_inbound_at > now() - interval '24 hours', false) AS "windowOpen",
          (SELECT row_to_json(x) FROM (SELECT ${COLUMNS} FROM templates t
             WHERE t.channel_id = v.channel_id AND t.name = $3 AND t.language = $4) x) AS template
   FROM conversations v JOIN contacts k ON k.id = v.contact_id
   WHERE v.id = $1 AND ($2::bigint IS NULL OR v.tenant_id = $2::bigint)`,
);

/** A channel's template by name and language ($1 channel, $2 name, $3 language). */
export const TEMPLATE_BY_NAME = sql(
  'templates_by_name',
  `SELECT ${COLUMNS} FROM templates t WHERE t.channel_id = $1 AND t.name = $2 AND t.language = $3`,
);
