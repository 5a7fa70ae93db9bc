// Types of scripts/codec-golden.mjs for test/e2e.
export declare const corpusDir: string;
export declare const goldenPath: string;
export declare function hasLibwbxml(): boolean;
export declare function libwbxmlGolden(): Promise<Record<string, { wbxml: string; wbxmlStrtbl?: string; libXml: string }>>;
