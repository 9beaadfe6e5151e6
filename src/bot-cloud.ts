import { CLOUD_PROFILES, CloudProfileValues } from './private/cloud-profiles';

/**
 * The Microsoft cloud the bot runs in: selects the Bot Framework, Entra ID, Bot Connector and Microsoft Graph
 * endpoints the handlers use (values from botbuilder-js `governmentConstants.ts` and microsoft/teams.ts
 * `cloud-environment.ts`). Any single endpoint can still be replaced with `TeamsDelegatedAuthBotProps.endpoints`.
 */
export class BotCloud {
  /** Azure public cloud (commercial Microsoft 365, GCC). */
  public static readonly PUBLIC = new BotCloud(CLOUD_PROFILES.public);

  /** Azure US Government, Microsoft 365 GCC High. */
  public static readonly US_GOV = new BotCloud(CLOUD_PROFILES.usgov);

  /** Azure US Government, Microsoft 365 DoD. */
  public static readonly US_GOV_DOD = new BotCloud(CLOUD_PROFILES.usgovdod);

  /** Azure China (operated by 21Vianet). */
  public static readonly CHINA = new BotCloud(CLOUD_PROFILES.china);

  /** Profile name written to the handlers' `TDAB_CLOUD` variable: `public`, `usgov`, `usgovdod` or `china`. */
  public readonly profileName: string;

  /** Bot Framework OpenID metadata URL (inbound JWT signing keys). */
  public readonly botOpenIdMetadataUrl: string;

  /** Issuer of the Bot Connector's JWTs. */
  public readonly botTokenIssuer: string;

  /** Entra ID authority (`{authority}/{tenant}/oauth2/v2.0/...`). */
  public readonly entraAuthority: string;

  /** Scope of the bot's outbound app token. */
  public readonly botConnectorScope: string;

  /** Microsoft Graph base URL (no trailing slash). */
  public readonly graphBaseUrl: string;

  /** Hosts an activity's `serviceUrl` may name: the cloud's Microsoft Teams Bot Connector hosts (`*.` would match any subdomain). */
  public readonly serviceUrlHosts: string[];

  private constructor(values: CloudProfileValues) {
    this.profileName = values.name;
    this.botOpenIdMetadataUrl = values.botOpenIdMetadataUrl;
    this.botTokenIssuer = values.botTokenIssuer;
    this.entraAuthority = values.entraAuthority;
    this.botConnectorScope = values.botConnectorScope;
    this.graphBaseUrl = values.graphBaseUrl;
    this.serviceUrlHosts = [...values.serviceUrlHosts];
  }
}

/**
 * Replacements for single endpoints of the selected `BotCloud` (for example a sovereign or test environment).
 * Every field is optional; an unset field keeps the cloud profile's value.
 */
export interface BotCloudEndpoints {
  /**
   * Bot Framework OpenID metadata URL (https).
   *
   * @default - the cloud profile's value, e.g. `https://login.botframework.com/v1/.well-known/openidconfiguration`
   */
  readonly botOpenIdMetadataUrl?: string;

  /**
   * Expected `iss` of inbound Bot Connector JWTs.
   *
   * @default - the cloud profile's value, e.g. `https://api.botframework.com`
   */
  readonly botTokenIssuer?: string;

  /**
   * Entra ID authority (https, no trailing slash, no tenant).
   *
   * @default - the cloud profile's value, e.g. `https://login.microsoftonline.com`
   */
  readonly entraAuthority?: string;

  /**
   * Scope of the bot's outbound app token (client credentials).
   *
   * @default - the cloud profile's value, e.g. `https://api.botframework.com/.default`
   */
  readonly botConnectorScope?: string;

  /**
   * Microsoft Graph base URL (https, no trailing slash). The worker sends the user's token to this host only.
   *
   * @default - the cloud profile's value, e.g. `https://graph.microsoft.com`
   */
  readonly graphBaseUrl?: string;

  /**
   * Hosts an activity's `serviceUrl` may name, checked in addition to the JWT's `serviceurl` claim.
   * A leading `*.` matches any subdomain; entries are host names, not URLs. Only activities of the Microsoft Teams
   * channel (`channelId` `msteams`) are accepted whatever this list holds.
   *
   * @default - the Teams Bot Connector hosts of the cloud profile: public `['smba.trafficmanager.net', 'smba.infra.gcc.teams.microsoft.com']`,
   * US Gov `['smba.infra.gov.teams.microsoft.us']`, US Gov DoD `['smba.infra.dod.teams.microsoft.us']`, China `['smba.trafficmanager.cn']`
   */
  readonly serviceUrlHosts?: string[];
}
