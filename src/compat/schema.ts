// Config of the envelope protocol: the original gateway's one endpoint in front of native routes.
import * as z from 'zod';

export const envelopeSchema = z
  .object({
    /** The one endpoint: `POST` with JSON `{ service, event, request_id, body }`, dispatched to the route `/<service>/<event>`. */
    path: z
      .string({ error: 'expected a path such as "/"' })
      .regex(/^\/[A-Za-z0-9\-._~/]*$/, { error: 'expected a path such as "/" or "/api"' })
      .default('/'),
    /**
     * true: the envelope is the only way in, as in the original; the routes it dispatches to are not
     * reachable by their own paths, and any other path answers 10002. false: both ways work.
     */
    exclusive: z.boolean({ error: 'expected true or false' }).default(true),
  })
  .strict();

export type EnvelopeConfig = z.infer<typeof envelopeSchema>;
