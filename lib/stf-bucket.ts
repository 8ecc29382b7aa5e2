import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { type IGrantable, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import {
  BlockPublicAccess,
  Bucket,
  BucketEncryption,
  type CfnBucket,
  ObjectOwnership,
} from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { suppress } from './nag.ts';

export interface StfBucketProps {
  /** STF files are synthetic test data: they expire after this. @default 14 days */
  readonly expiration?: Duration;
}

/**
 * The STF store in AWS mode: an encrypted bucket, public access blocked, TLS only. The DAQ simulator writes
 * `swf.<run>.run/<file>` objects, the pilots read them; `STF_STORE=s3://<bucket>` selects it.
 */
export class StfBucket extends Construct {
  public readonly bucket: Bucket;
  /** `s3://<bucket>`, the STF_STORE value of the DAQ simulator and the pilots. */
  public readonly location: string;

  constructor(scope: Construct, id: string, props: StfBucketProps = {}) {
    super(scope, id);
    this.bucket = new Bucket(this, 'Bucket', {
      encryption: BucketEncryption.S3_MANAGED,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      lifecycleRules: [
        {
          expiration: props.expiration ?? Duration.days(14),
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
      ],
      removalPolicy: RemovalPolicy.DESTROY,
      // `cdk destroy` empties it first, so a teardown leaves nothing behind.
      autoDeleteObjects: true,
    });
    suppress(this.bucket, [
      {
        id: 'AwsSolutions-S1',
        reason:
          'Synthetic STF files of a testbed: who wrote and read them is the DAQ simulator and the pilots, whose ' +
          'roles are the only ones granted; access logs would cost more than the data.',
      },
    ]);
    this.location = `s3://${this.bucket.bucketName}`;
  }

  /** The DAQ simulator: writes STF objects (s3:PutObject, nothing else). */
  grantWrite(grantee: IGrantable): void {
    this.grantObjects(grantee, 's3:PutObject');
  }

  /** The pilots: read STF objects (s3:GetObject, nothing else). */
  grantRead(grantee: IGrantable): void {
    this.grantObjects(grantee, 's3:GetObject');
  }

  private grantObjects(grantee: IGrantable, action: string): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({ actions: [action], resources: [this.bucket.arnForObjects('*')] }),
    );
    if (Construct.isConstruct(grantee.grantPrincipal)) {
      // cdk-nag names the finding after the bucket's logical id.
      const stack = Stack.of(this);
      const bucketId = stack.resolve(stack.getLogicalId(this.bucket.node.defaultChild as CfnBucket));
      suppress(grantee.grantPrincipal, [
        {
          id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/*]`,
          reason: `${action} on the objects of the STF bucket: object keys are per run, known only at run time.`,
        },
      ]);
    }
  }
}
