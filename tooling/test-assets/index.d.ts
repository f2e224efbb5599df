export declare function assetsRoot(): string;
export declare function assetPath(relative: string): string;
export declare function requireAsset(relative: string): string;
export declare const STORIES_MODEL: string;
export declare const STORIES_TOKENIZER: string;
export declare const STORIES_TEXT: string;
export declare const STORIES_GOLDEN: string;
