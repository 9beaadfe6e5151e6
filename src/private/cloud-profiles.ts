/**
 * Endpoint values of each Microsoft cloud, in one place. Pure data (no CDK import): the construct reads it to
 * validate props and to document defaults; the handlers import it (lambda/ → src/private/ only) to resolve
 * their configuration. Sources: botbuilder-js `governmentConstants.ts`, microsoft/teams.ts
 * `packages/api/src/auth/cloud-environment.ts`, Microsoft Graph national cloud deployments.
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
   * Hosts a `serviceUrl` may name (defence in depth on top of the `serviceurl` claim check).
   * A leading `*.` matches any subdomain. https only.
   */
  readonly serviceUrlHosts: readonly string[];
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
    serviceUrlHosts: ['smba.trafficmanager.net', 'smba.infra.gcc.teams.microsoft.com', '*.botframework.com'],
  },
  usgov: {
    name: 'usgov',
    botOpenIdMetadataUrl: 'https://login.botframework.azure.us/v1/.well-known/openidconfiguration',
    botTokenIssuer: 'https://api.botframework.us',
    entraAuthority: 'https://login.microsoftonline.us',
    botConnectorScope: 'https://api.botframework.us/.default',
    graphBaseUrl: 'https://graph.microsoft.us',
    graphResource: 'https://graph.microsoft.us',
    serviceUrlHosts: ['smba.infra.gov.teams.microsoft.us', '*.botframework.azure.us'],
  },
  usgovdod: {
    name: 'usgovdod',
    botOpenIdMetadataUrl: 'https://login.botframework.azure.us/v1/.well-known/openidconfiguration',
    botTokenIssuer: 'https://api.botframework.us',
    entraAuthority: 'https://login.microsoftonline.us',
    botConnectorScope: 'https://api.botframework.us/.default',
    graphBaseUrl: 'https://dod-graph.microsoft.us',
    graphResource: 'https://dod-graph.microsoft.us',
    serviceUrlHosts: ['smba.infra.dod.teams.microsoft.us', '*.botframework.azure.us'],
  },
  china: {
    name: 'china',
    botOpenIdMetadataUrl: 'https://login.botframework.azure.cn/v1/.well-known/openidconfiguration',
    botTokenIssuer: 'https://api.botframework.azure.cn',
    entraAuthority: 'https://login.partner.microsoftonline.cn',
    botConnectorScope: 'https://api.botframework.azure.cn/.default',
    graphBaseUrl: 'https://microsoftgraph.chinacloudapi.cn',
    graphResource: 'https://microsoftgraph.chinacloudapi.cn',
    serviceUrlHosts: ['*.teams.microsoftonline.cn', '*.botframework.azure.cn'],
  },
};
