import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { notFound } from '../shared/errors.ts';
import { isRowId } from '../shared/ids.ts';
import { channelPatchInput, type ChannelAdmin } from '../tenancy/channelAdmin.ts';
import { actorOf } from './actor.ts';
import { requireAdmin, requireTenant, type Authenticator, type Principal } from './auth.ts';
import { handle, route } from './routeSpec.ts';
import { channelShape, errorBody, idString } from './schemas.ts';

const e = (description: string) => ({ description, schema: errorBody });
const channelParams = z.strictObject({ channelId: idString });

export const listChannelsRoute = route({
  method: 'GET',
  url: '/api/tenants/:tenantId/channels',
  operationId: 'listChannels',
  tag: 'provisioning',
  summary: "A tenant's channels, oldest first (never a token or secret)",
  auth: 'tenant',
  resource: 'tenant',
  params: z.strictObject({ tenantId: idString }),
  responses: { 200: { description: 'the channels', schema: z.object({ items: z.array(channelShape) }) }, 401: e('no key'), 404: e("no such tenant (or another tenant's)") },
});

export const patchChannelRoute = route({
  method: 'PATCH',
  url: '/api/channels/:channelId',
  operationId: 'updateChannel',
  tag: 'provisioning',
  summary: "Rotate a channel's access token (write-only, stored encrypted) or change its send rate",
  description: 'Every process sends with the new token from the commit on.',
  auth: 'admin',
  resource: 'channel',
  params: channelParams,
  body: channelPatchInput,
  responses: { 200: { description: 'the channel', schema: channelShape }, 400: e('invalid input'), 401: e('no key'), 403: e('not the admin key'), 404: e('no such channel') },
});

export const removeChannelRoute = route({
  method: 'DELETE',
  url: '/api/channels/:channelId',
  operationId: 'removeChannel',
  tag: 'provisioning',
  summary: 'Remove a channel and its contacts, conversations and messages',
  description:
    'From the answer on it routes nothing (its webhooks are acknowledged as unroutable); its rows are removed in the background, in batches. ' +
    'Its phone number id can be given to a new channel once they are gone.',
  auth: 'admin',
  resource: 'channel',
  params: channelParams,
  responses: {
    202: { description: 'removal under way', schema: channelShape.extend({ status: z.literal('removing') }) },
    401: e('no key'),
    403: e('not the admin key'),
    404: e('no such channel'),
  },
});

/** Every channel route after creation, for the OpenAPI document. */
export const channelRouteSpecs = [listChannelsRoute, patchChannelRoute, removeChannelRoute];

/** Channels after their creation: list (admin or own tenant), rotate token, remove (admin). */
export async function channelRoutes(app: FastifyInstance, { channels, auth, onRemoval }: { channels: ChannelAdmin; auth: Authenticator; onRemoval: () => void }): Promise<void> {
  const tenantScoped = async (req: FastifyRequest): Promise<Principal> => {
    const p = await auth.principal(req);
    const { tenantId } = req.params as { tenantId: string };
    if (!isRowId(tenantId)) throw notFound('tenant');
    requireTenant(p, tenantId);
    return p;
  };
  const admin = async (req: FastifyRequest): Promise<Principal> => {
    const p = await auth.principal(req);
    requireAdmin(p);
    return p;
  };

  handle(app, listChannelsRoute, tenantScoped, async (_p, { params }) => ({ items: await channels.list(params.tenantId) }));
  handle(app, patchChannelRoute, admin, async (p, { params, body }) => channels.update(params.channelId, body, actorOf(p)));
  handle(app, removeChannelRoute, admin, async (p, { params, reply }) => {
    const c = await channels.remove(params.channelId, actorOf(p));
    onRemoval();
    return reply.code(202).send({ ...c, status: 'removing' });
  });
}
