/**
 * Endpoint values of each Microsoft cloud, in one place. Pure data (no CDK import): the construct reads it to
 * validate props and to document defaults; the handlers import it (lambda/ → src/private/ only) to resolve
 * their configuration. Sources: botbuilder-js `governmentConstants.ts`, microsoft/teams.ts
 * `packages/api/src/auth/cloud-environment.ts`, Microsoft Graph national cloud deployments; the Teams hosts below
 * name their own source.
 */
export interface CloudProfileValues {
  /** Short name used in the `TDAB_CLOUD` environment variable. */
  readonly name: 'public' | 'usgov' | 'usgovdod' | 'china';
  /** Bot Framework OpenID metadata (rule 2). */
  readonly botOpenIdMetadataUrl: string;
  /** Issuer of Bot Connector → bot JWTs (rule 3). */
  readonly botTokenIssuer: string;
  /** Entra ID authority host: `{authority}/{tenant}/oauth2/v2.0/...`. */
  readonly entraAuthority: string;
  /** Scope of the bot's outbound app token (client credentials). */
  readonly botConnectorScope: string;
  /** Microsoft Graph base URL (no trailing slash). */
  readonly graphBaseUrl: string;
  /** Resource scope prefix of Graph delegated scopes (`{graphResource}/User.Read`). */
  readonly graphResource: string;
  /**
   * Hosts a `serviceUrl` may name (defence in depth on top of the `serviceurl` claim check): only the Microsoft Teams
   * Bot Connector hosts of the cloud ({@link TEAMS_BOT_CONNECTOR_HOSTS}), never another Bot Framework channel's
   * (`*.botframework.com` serves Web Chat, Direct Line, the Emulator…). Exact host names, https on the default port.
   */
  readonly serviceUrlHosts: readonly string[];
  /** The Teams web client's host, for `msteams://{host}/…` deep links back to Teams. */
  readonly teamsWebHost: string;
  /**
   * Host of the Entra ID v1 token issuer (`https://{host}/{tid}/`): a token naming it comes from an app registration
   * that still issues v1 tokens (diagnostic only: such tokens are refused either way).
   */
  readonly v1IssuerHost: string;
}

/** A default `serviceUrl` host and where Microsoft publishes it. */
export interface TeamsBotConnectorHost {
  readonly host: string;
  readonly cloud: CloudProfileValues['name'];
  /** The Microsoft document or SDK constant that names the host. */
  readonly source: string;
}

const AGENTS_SDK = 'Microsoft 365 Agents SDK, TeamsProactiveServiceEndpoints';
const TEAMS_DOCS = 'Microsoft Teams docs, "Send proactive messages" (msteams-platform/bots/how-to/conversations/send-proactive-messages.md)';

/**
 * The Teams Bot Connector hosts, one entry per host, each with its source. The profiles' `serviceUrlHosts` are derived
 * from this list, so a host cannot be allowed without a named source.
 */
export const TEAMS_BOT_CONNECTOR_HOSTS: readonly TeamsBotConnectorHost[] = [
  { host: 'smba.trafficmanager.net', cloud: 'public', source: `${AGENTS_SDK}.publicGlobal (https://smba.trafficmanager.net/teams/)` },
  {
    host: 'smba.infra.gcc.teams.microsoft.com',
    cloud: 'public', // GCC tenants use the public Azure cloud's Bot Framework
    source: `${AGENTS_SDK}.gcc (https://smba.infra.gcc.teams.microsoft.com/teams); ${TEAMS_DOCS}: GCC`,
  },
  {
    host: 'smba.infra.gov.teams.microsoft.us',
    cloud: 'usgov',
    source: `${AGENTS_SDK}.gccHigh (https://smba.infra.gov.teams.microsoft.us/teams); ${TEAMS_DOCS}: GCCH`,
  },
  { host: 'smba.infra.dod.teams.microsoft.us', cloud: 'usgovdod', source: `${AGENTS_SDK}.dod (https://smba.infra.dod.teams.microsoft.us/teams)` },
  {
    host: 'smba.trafficmanager.cn',
    cloud: 'china',
    // Microsoft publishes no proactive endpoint for Teams operated by 21Vianet (the Agents SDK and the Teams docs list
    // the public and US government clouds only). Check the serviceUrl of the first activity your bot receives and
    // set `endpoints.serviceUrlHosts` if it differs.
    source: 'not published by Microsoft: the service URL deployments for Teams operated by 21Vianet report (https://smba.trafficmanager.cn/teams); verify it',
  },
];

function hostsOf(cloud: CloudProfileValues['name']): readonly string[] {
  return TEAMS_BOT_CONNECTOR_HOSTS.filter((h) => h.cloud === cloud).map((h) => h.host);
}

export const CLOUD_PROFILES: Readonly<Record<CloudProfileValues['name'], CloudProfileValues>> = {
  public: {
    name: 'public',
    botOpenIdMetadataUrl: 'https://login.botframework.com/v1/.well-known/openidconfiguration',
    botTokenIssuer: 'https://api.botframework.com',
    entraAuthority: 'https://login.microsoftonline.com',
    botConnectorScope: 'https://api.botframework.com/.default',
    graphBaseUrl: 'https://graph.microsoft.com',
    graphResource: 'https://graph.microsoft.com',
    serviceUrlHosts: hostsOf('public'),
    teamsWebHost: 'teams.microsoft.com',
    v1IssuerHost: 'sts.windows.net',
  },
  usgov: {
    name: 'usgov',
    botOpenIdMetadataUrl: 'https://login.botframework.azure.us/v1/.well-known/openidconfiguration',
    botTokenIssuer: 'https://api.botframework.us',
    entraAuthority: 'https://login.microsoftonline.us',
    botConnectorScope: 'https://api.botframework.us/.default',
    graphBaseUrl: 'https://graph.microsoft.us',
    graphResource: 'https://graph.microsoft.us',
    serviceUrlHosts: hostsOf('usgov'),
    teamsWebHost: 'gov.teams.microsoft.us',
    v1IssuerHost: 'sts.windows.net',
  },
  usgovdod: {
    name: 'usgovdod',
    botOpenIdMetadataUrl: 'https://login.botframework.azure.us/v1/.well-known/openidconfiguration',
    botTokenIssuer: 'https://api.botframework.us',
    entraAuthority: 'https://login.microsoftonline.us',
    botConnectorScope: 'https://api.botframework.us/.default',
    graphBaseUrl: 'https://dod-graph.microsoft.us',
    graphResource: 'https://dod-graph.microsoft.us',
    serviceUrlHosts: hostsOf('usgovdod'),
    teamsWebHost: 'dod.teams.microsoft.us',
    v1IssuerHost: 'sts.windows.net',
  },
  china: {
    name: 'china',
    botOpenIdMetadataUrl: 'https://login.botframework.azure.cn/v1/.well-known/openidconfiguration',
    botTokenIssuer: 'https://api.botframework.azure.cn',
    entraAuthority: 'https://login.partner.microsoftonline.cn',
    botConnectorScope: 'https://api.botframework.azure.cn/.default',
    graphBaseUrl: 'https://microsoftgraph.chinacloudapi.cn',
    graphResource: 'https://microsoftgraph.chinacloudapi.cn',
    serviceUrlHosts: hostsOf('china'),
    teamsWebHost: 'teams.microsoftonline.cn',
    v1IssuerHost: 'sts.chinacloudapi.cn',
  },
};

/** The cloud profile of a name, the public cloud for any other (e.g. a deep link of an unknown cloud). */
export function cloudProfileOrPublic(name: string): CloudProfileValues {
  return Object.prototype.hasOwnProperty.call(CLOUD_PROFILES, name) ? CLOUD_PROFILES[name as CloudProfileValues['name']] : CLOUD_PROFILES.public;
}

/** Every cloud's v1 issuer host (an id token validator that does not know the cloud recognises any of them). */
export const V1_ISSUER_HOSTS: readonly string[] = [...new Set(Object.values(CLOUD_PROFILES).map((p) => p.v1IssuerHost))];
