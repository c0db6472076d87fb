/**
 * The AWS SDK's NodeVersionSupportWarning: every process that builds an S3 client on a Node the
 * SDK is about to drop (below 22 today) prints it, 9 lines on stderr. A node of n workers would
 * print it n + 1 times, and again for each replaced worker; it prints it once instead, from its
 * primary, and starts its workers with the SDK's own switch for it off. Other warnings are
 * untouched.
 */

/** The SDK reads this when a client is built; 'true' skips only the Node version warning. */
const SDK_SWITCH = 'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED';

/** Environment for processes forked by one that has already given the warning. */
export const NODE_WARNING_GIVEN: Readonly<Record<string, string>> = Object.freeze({ [SDK_SWITCH]: 'true' });

/**
 * Gives the SDK's warning in this process if the SDK would: its own check and text, so nothing
 * on a Node it supports, and nothing when the operator has set its switch. Loads the SDK's
 * client core only (~0.2 s), not the S3 client.
 */
export async function warnIfS3SdkDropsThisNode(): Promise<void> {
  const { emitWarningIfUnsupportedVersion } = await import('@aws-sdk/core/client');
  emitWarningIfUnsupportedVersion(process.version);
}
