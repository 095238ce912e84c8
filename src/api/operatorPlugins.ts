import type { RoutePlugin } from '../app/server.ts';
import { dashboardPlugin } from '../dashboard/plugin.ts';
import { sandboxPlugin } from '../sandbox/routes.ts';
import { operatorApiPlugin } from './plugin.ts';

/**
 * What a person sees and touches: the operator API, the dashboard at `/`,
 * and in sandbox mode the phone page at `/sandbox`.
 */
export const operatorPlugins: RoutePlugin[] = [operatorApiPlugin, dashboardPlugin, sandboxPlugin];
