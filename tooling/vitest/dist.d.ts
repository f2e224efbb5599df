export declare function describeBuiltPackage(packageDir: string, expectedExport: string): void;
