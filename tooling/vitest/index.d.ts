export declare function sourceAliases(): { find: RegExp; replacement: string }[];
export declare function packageProject(
  packageDir: string,
  options?: { name?: string; environment?: string; testTimeout?: number },
): Record<string, unknown>;
